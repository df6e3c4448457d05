package producer

import "time"

// Metrics receives the producer's measurements. Its methods are called
// from the producer's goroutines, one at a time, and must not block.
type Metrics interface {
	// RequestDone reports one PutRecords call.
	RequestDone(RequestStats)
	// RecordDone reports one user record's outcome.
	RecordDone(RecordStats)
}

// RequestStats describes one PutRecords call.
type RequestStats struct {
	// Records is the number of Kinesis records sent (an aggregate counts
	// once); UserRecords the user records they carry; Bytes their data and
	// partition keys.
	Records, UserRecords, Bytes int
	// Throttled is the number of Kinesis records refused with
	// ProvisionedThroughputExceededException; Failed those refused
	// otherwise (all of them when Err is set).
	Throttled, Failed int
	// Retried is the number of user records sent back for another attempt.
	Retried int
	// Latency is the duration of the call.
	Latency time.Duration
	// Err is the error of the whole call, nil when it got a response.
	Err error
}

// RecordStats describes the end of one user record.
type RecordStats struct {
	Bytes    int           // data and partition key
	Attempts int           // PutRecords calls that carried it
	Latency  time.Duration // from Put to the outcome
	Err      error         // nil when acknowledged
}
