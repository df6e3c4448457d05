package consumer_test

import (
	"testing"

	"github.com/sluicehq/sluice/consumer"
	"github.com/sluicehq/sluice/consumer/leasetest"
)

func TestDynamoDBLeaseStore_Dynalite(t *testing.T) {
	endpoint := leasetest.StartDynalite(t)
	client := leasetest.DynamoDBClient(endpoint)
	leasetest.Run(t, func(t *testing.T) consumer.LeaseStore {
		return consumer.NewDynamoDBLeaseStore(client, leasetest.TableName(t))
	})
}
