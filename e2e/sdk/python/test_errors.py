"""Error shapes as boto3 surfaces them: ClientError subclasses named for
the AWS error code, with the HTTP status, a message and a request id."""

import unittest

from sluice_helpers import SluiceTestCase, create_stream, stream_name


class ErrorsTest(SluiceTestCase):
    def test_errors(self):
        c = self.client
        name = stream_name("errors")
        shard_id = create_stream(c, name, 1)[0]["ShardId"]

        missing = stream_name("missing")
        err = self.assertError("ResourceNotFoundException", c.describe_stream, StreamName=missing)
        self.assertIn(missing, err.response["Error"]["Message"])
        self.assertError("ResourceNotFoundException", c.put_record, StreamName=missing, PartitionKey="k", Data=b"x")
        self.assertError("ResourceNotFoundException", c.get_shard_iterator, StreamName=name,
                         ShardId="shardId-000000000007", ShardIteratorType="TRIM_HORIZON")
        self.assertError("ResourceInUseException", c.create_stream, StreamName=name, ShardCount=1)

        self.assertError("InvalidArgumentException", c.get_shard_iterator, StreamName=name, ShardId=shard_id,
                         ShardIteratorType="AT_SEQUENCE_NUMBER")
        self.assertError("InvalidArgumentException", c.increase_stream_retention_period, StreamName=name,
                         RetentionPeriodHours=9000)
        self.assertError("InvalidArgumentException", c.get_records, ShardIterator="not-an-iterator")
        big = self.assertError("InvalidArgumentException", c.put_record, StreamName=name, PartitionKey="k",
                               Data=bytes((1 << 20) + 1))
        self.assertIn("exceeds the maximum record size", big.response["Error"]["Message"])

        # What the model constrains beyond what botocore checks itself
        # (it checks minimums, not maximums or enum values).
        self.assertError("ValidationException", c.put_record, StreamName=name, PartitionKey="k" * 257, Data=b"x")
        self.assertError("ValidationException", c.get_shard_iterator, StreamName=name, ShardId=shard_id,
                         ShardIteratorType="SIDEWAYS")
        self.assertError("ValidationException", c.put_records, StreamName=name,
                         Records=[{"PartitionKey": "k", "Data": b"x"}] * 501)
        self.assertError("ValidationException", c.create_stream, StreamName="bad name!", ShardCount=1)


if __name__ == "__main__":
    unittest.main()
