"""The stream control plane: create, describe, list, retention, tags and
delete, as boto3 sends and reads them."""

import datetime
import time
import unittest

from sluice_helpers import SluiceTestCase, create_stream, stream_name, versions


class StreamsTest(SluiceTestCase):
    def test_create_describe_list_delete(self):
        c = self.client
        name = stream_name("streams")
        before = time.time()
        c.create_stream(StreamName=name, ShardCount=3)
        c.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        after = time.time()

        d = c.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        self.assertEqual(d["StreamName"], name)
        self.assertEqual(d["StreamStatus"], "ACTIVE")
        self.assertEqual(d["OpenShardCount"], 3)
        self.assertEqual(d["RetentionPeriodHours"], 24)
        self.assertEqual(d["StreamModeDetails"]["StreamMode"], "PROVISIONED")
        self.assertRegex(d["StreamARN"], rf"^arn:aws:kinesis:us-east-1:\d{{12}}:stream/{name}$")
        # StreamCreationTimestamp: an aware datetime of this moment, in
        # whole seconds as AWS gives it.
        created = d["StreamCreationTimestamp"]
        self.assertIsInstance(created, datetime.datetime)
        self.assertIsNotNone(created.tzinfo)
        self.assertEqual(created.microsecond, 0)
        self.assertTrue(before - 1 <= created.timestamp() <= after + 1, f"StreamCreationTimestamp {created.isoformat()} is not now")

        full = c.describe_stream(StreamName=name, Limit=2)["StreamDescription"]
        self.assertEqual(len(full["Shards"]), 2)
        self.assertTrue(full["HasMoreShards"])
        self.assertEqual(full["StreamCreationTimestamp"], created)
        rest = c.describe_stream(StreamName=name, ExclusiveStartShardId=full["Shards"][1]["ShardId"])["StreamDescription"]
        self.assertEqual([s["ShardId"] for s in rest["Shards"]], ["shardId-000000000002"])
        self.assertFalse(rest["HasMoreShards"])
        # boto3 sends the creation time back (as whole seconds) and it matches.
        shards = c.list_shards(StreamName=name, StreamCreationTimestamp=created)["Shards"]
        self.assertEqual(len(shards), 3)

        # ListStreams through the SDK's paginator.
        names = []
        for page in c.get_paginator("list_streams").paginate(PaginationConfig={"PageSize": 1}):
            names.extend(page["StreamNames"])
        self.assertIn(name, names)

        c.increase_stream_retention_period(StreamName=name, RetentionPeriodHours=48)
        self.assertEqual(c.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["RetentionPeriodHours"], 48)
        c.decrease_stream_retention_period(StreamName=name, RetentionPeriodHours=24)
        self.assertError("InvalidArgumentException", c.decrease_stream_retention_period, StreamName=name, RetentionPeriodHours=12)

        limits = c.describe_limits()
        self.assertGreater(limits["ShardLimit"], 0)
        self.assertGreaterEqual(limits["OpenShardCount"], 3)

        c.delete_stream(StreamName=name)
        c.get_waiter("stream_not_exists").wait(StreamName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        self.assertError("ResourceNotFoundException", c.describe_stream_summary, StreamName=name)

    def test_tags(self):
        c = self.client
        name = stream_name("tags")
        create_stream(c, name, 1)
        c.add_tags_to_stream(StreamName=name, Tags={"a": "1", "b": "2", "c": "3"})
        first = c.list_tags_for_stream(StreamName=name, Limit=2)
        self.assertEqual(first["Tags"], [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
        self.assertTrue(first["HasMoreTags"])
        second = c.list_tags_for_stream(StreamName=name, ExclusiveStartTagKey="b")
        self.assertEqual(second["Tags"], [{"Key": "c", "Value": "3"}])
        self.assertFalse(second["HasMoreTags"])
        c.remove_tags_from_stream(StreamName=name, TagKeys=["b"])
        self.assertEqual([t["Key"] for t in c.list_tags_for_stream(StreamName=name)["Tags"]], ["a", "c"])
        many = {f"k{i}": "v" for i in range(49)}
        self.assertError("InvalidArgumentException", c.add_tags_to_stream, StreamName=name, Tags=many)
        c.delete_stream(StreamName=name)


if __name__ == "__main__":
    print(versions())
    unittest.main()
