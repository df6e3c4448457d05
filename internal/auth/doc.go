// Package auth authenticates and authorizes requests to Sluice as AWS does.
//
// Authentication verifies AWS Signature Version 4 (the Authorization
// header and the presigned query form) against the access keys of a
// Config: the canonical request is rebuilt exactly as the SDKs build it,
// the request time must be within 5 minutes of the server's clock, and
// failures get AWS's error types and messages. With no Config the server
// is open, as emulators are: only the presence of a signature is checked
// and every caller acts as the account's root user.
//
// Authorization evaluates the IAM-style identity policies of the calling
// principal together with the resource policy of the stream or consumer
// named (the ones PutResourcePolicy stores), as AWS does: an explicit Deny
// wins, then an Allow from either, else the request is implicitly denied;
// a principal of another account needs both. Kinesis is authorized by
// wrapping its kinesis.Service (Gate.Kinesis), so that every operation
// maps to its action and resource; DynamoDB calls Gate.Authorize.
//
// The Gate also guards the operational surfaces (metrics, profiles, the
// console) with the same credentials, checks the Host header against
// the names the server answers to, and writes the audit log.
package auth
