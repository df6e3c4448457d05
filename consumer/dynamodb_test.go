package consumer_test

import (
	"testing"

	"github.com/sluicehq/sluice/consumer"
	"github.com/sluicehq/sluice/consumer/leasetest"
	"github.com/sluicehq/sluice/sluicetest"
)

// The lease store's suite runs against Sluice's DynamoDB API and against
// dynalite, a second DynamoDB implementation, so it relies on nothing one
// implementation happens to allow.

func TestDynamoDBLeaseStore_Sluice(t *testing.T) {
	client := leasetest.DynamoDBClient(sluicetest.Start(t).Endpoint())
	leasetest.Run(t, func(t *testing.T) consumer.LeaseStore {
		return consumer.NewDynamoDBLeaseStore(client, leasetest.TableName(t))
	})
}

func TestDynamoDBLeaseStore_Dynalite(t *testing.T) {
	endpoint := leasetest.StartDynalite(t)
	client := leasetest.DynamoDBClient(endpoint)
	leasetest.Run(t, func(t *testing.T) consumer.LeaseStore {
		return consumer.NewDynamoDBLeaseStore(client, leasetest.TableName(t))
	})
}
