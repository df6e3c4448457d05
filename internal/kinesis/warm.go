package kinesis

import "context"

// MaxWarmThroughputMiBps is the most warm throughput an ON_DEMAND stream
// may ask for: 10 GiB/s.
const MaxWarmThroughputMiBps = 10240

// WarmThroughput is an ON_DEMAND stream's warm throughput in MiB/s: the
// write throughput it is scaling towards and the one it handles now.
type WarmThroughput struct {
	TargetMiBps  int
	CurrentMiBps int
}

// WarmThroughputOutput is UpdateStreamWarmThroughput's answer.
type WarmThroughputOutput struct {
	StreamName     string
	StreamARN      string
	WarmThroughput WarmThroughput
}

// WarmThroughputService is the warm throughput of ON_DEMAND streams.
type WarmThroughputService interface {
	// UpdateStreamWarmThroughput sets the write throughput, in MiB/s, an
	// ON_DEMAND stream is to handle at once. Errors: ResourceNotFound for
	// an unknown stream, ValidationException for a PROVISIONED stream or
	// an account without the minimum throughput billing commitment,
	// ResourceInUseException for a stream not ACTIVE,
	// LimitExceededException above MaxWarmThroughputMiBps.
	UpdateStreamWarmThroughput(ctx context.Context, ref StreamRef, mibps int) (WarmThroughputOutput, error)
}
