package kinesis

// CallAdmitter is implemented by a Service that limits how often each
// operation may be called, as AWS's control plane does. The HTTP layer
// admits every call through it before running the operation.
type CallAdmitter interface {
	// AdmitCall admits one call of op (the operation's name in the API)
	// or returns the error to answer it with. stream yields the stream the
	// call names; it is called only when the limit is per stream. done is
	// called once the call has succeeded.
	AdmitCall(op string, stream func() StreamRef) (done func(), err error)
}
