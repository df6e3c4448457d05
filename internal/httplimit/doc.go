// Package httplimit bounds what HTTP clients can make a server hold, so
// that no request, and no number of slow or stalled ones, can exhaust it:
//
//   - Listener caps the connections open at once (over the cap, Accept
//     waits for one to close);
//   - Bodies caps the bytes of request bodies held across the server (a
//     budget read chunk by chunk, never reserved from a declared
//     Content-Length), and gives each request body a read deadline.
//
// Bodies wraps a handler; the handlers behind it see ErrBusy when the
// budget stays spent for longer than the configured wait and
// ErrBodyTimeout when a body is not received in time, and answer them in
// their protocol's shape. The deadline is lifted once a body has been
// read to its end, so long-lived responses (SubscribeToShard's event
// stream, over HTTP/1.1 or HTTP/2) are not cut.
//
// Part of the budget is kept for bodies that declare at most
// SmallBodyBytes, which larger ones (or ones of unknown length) may not
// take: a flood of large or stalled uploads slows other large uploads,
// never the small calls (PutRecord, GetRecords, lease table writes) that
// make up normal traffic.
package httplimit
