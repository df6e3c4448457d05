package dynamodb

import (
	"maps"
	"slices"
)

// Operations returns the names of the DynamoDB operations the handler
// answers, sorted; metrics are kept for each.
func Operations() []string {
	return slices.Sorted(maps.Keys(operations))
}
