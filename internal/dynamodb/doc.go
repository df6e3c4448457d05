// Package dynamodb answers the part of the Amazon DynamoDB API that a
// consumer fleet's lease table needs, so that a fleet on Sluice keeps its
// leases on the same endpoint as its streams.
//
// The protocol is DynamoDB's JSON 1.0: POST, Content-Type
// application/x-amz-json-1.0, X-Amz-Target DynamoDB_20120810.<Op>, a
// present (unverified) SigV4 signature, errors as
//
//	{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"The conditional request failed"}
//
// with DynamoDB's statuses and wording, and every response checksummed in
// x-amz-crc32, which the AWS SDKs verify.
//
// Operations: CreateTable, DescribeTable, UpdateTable, DeleteTable,
// ListTables, GetItem, PutItem, UpdateItem, DeleteItem, Scan, Query,
// BatchGetItem, BatchWriteItem, TransactGetItems, TransactWriteItems, and
// the Time to Live and continuous backup settings, with condition, update,
// projection, filter and key condition expressions (expr.go parses them,
// eval.go evaluates them) and the legacy parameters (Expected,
// AttributeUpdates, …; legacy.go translates them into expressions).
// Secondary indexes are views over the table's items (indexes.go).
// Numbers are exact decimals of up to 38 digits (number.go). The Java
// KCL 3.x's lease management needs all of these.
//
// Tables and items live in a Store, a key-value store whose writes are
// compare-and-swap on a revision (a JetStream KV bucket in a server):
//
//	table/<name>                          table description (JSON)
//	item/<name>/<table id>/<encoded key>  one item (DynamoDB JSON)
//
// A conditional write reads the item, evaluates the condition, and writes
// at the revision it read, starting over if another write came between;
// so any number of servers over one store behave as one table. A
// transaction does the same for all its items at once, through the
// store's atomic multi-key commit (Committer).
//
// A server mounts a Handler beside the Kinesis one and routes by target:
//
//	bucket, _ := backend.OpenBucket(ctx, "sluice_dynamodb")
//	ddb := dynamodb.New(bucket, dynamodb.Options{})
//	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
//		if strings.HasPrefix(r.Header.Get("X-Amz-Target"), dynamodb.TargetPrefix) {
//			ddb.ServeHTTP(w, r)
//			return
//		}
//		kinesisHandler.ServeHTTP(w, r)
//	})
package dynamodb
