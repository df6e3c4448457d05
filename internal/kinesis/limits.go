package kinesis

// CallAdmitter is implemented by a Service that limits how often each
// operation may be called, as AWS's control plane does. The HTTP layer
// admits every call through it before running the operation.
type CallAdmitter interface {
	// AdmitCall admits one call of op (the operation's name in the API)
	// or returns the error to answer it with. target yields what the call
	// names; it is called only when the limit is per stream or narrower.
	// done is called once the call has succeeded.
	AdmitCall(op string, target func() CallTarget) (done func(), err error)
}

// CallTarget is what a call names, as far as call rates care: a stream,
// and for SubscribeToShard a consumer and a shard.
type CallTarget struct {
	Stream      StreamRef
	ConsumerARN string
	ShardID     string
}
