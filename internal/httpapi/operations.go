package httpapi

import (
	"maps"
	"slices"
)

// Operations returns the names of the Kinesis operations the handler
// answers, sorted; metrics are kept for each.
func Operations() []string {
	names := slices.Collect(maps.Keys(operations))
	names = append(names, StreamingOperations()...)
	slices.Sort(names)
	return names
}

// StreamingOperations returns the operations whose answer is an event
// stream (SubscribeToShard), sorted.
func StreamingOperations() []string {
	return slices.Sorted(maps.Keys(streamOperations))
}

// TargetPrefix starts the X-Amz-Target of every Kinesis request.
const TargetPrefix = targetPrefix
