"""PutRecord, PutRecords, GetShardIterator of every type and GetRecords,
with the timestamps checked for their values in both directions."""

import datetime
import time
import unittest

from sluice_helpers import (SluiceTestCase, create_stream, iterator, read_to_end, stream_name,
                            utc, wait_for_next_second)


class RecordsTest(SluiceTestCase):
    def test_put_and_every_iterator_type(self):
        c = self.client
        name = stream_name("records")
        shard_id = create_stream(c, name, 1)[0]["ShardId"]
        self.assertEqual(shard_id, "shardId-000000000000")

        binary = bytes([0, 1, 2, 0xFE, 0xFF, 0x80])
        before = time.time()
        first = c.put_record(StreamName=name, PartitionKey="k0", Data=binary)
        self.assertEqual(first["ShardId"], shard_id)
        self.assertRegex(first["SequenceNumber"], r"^\d+$")
        batch = c.put_records(StreamName=name, Records=[
            {"PartitionKey": f"k{i}", "Data": f"record {i}".encode()} for i in range(1, 10)])
        after = time.time()
        self.assertEqual(batch["FailedRecordCount"], 0)
        seqs = [first["SequenceNumber"]] + [r["SequenceNumber"] for r in batch["Records"]]
        self.assertEqual([int(s) for s in seqs], sorted(int(s) for s in seqs))
        self.assertEqual(len(set(seqs)), 10)

        # TRIM_HORIZON: all ten, in order, with data, keys and arrival times.
        records, last = read_to_end(c, iterator(c, name, shard_id, "TRIM_HORIZON"))
        self.assertEqual([r["SequenceNumber"] for r in records], seqs)
        self.assertEqual(last["MillisBehindLatest"], 0)
        self.assertEqual(records[0]["Data"], binary)
        self.assertEqual(records[0]["PartitionKey"], "k0")
        self.assertEqual(records[5]["Data"], b"record 5")
        for r in records:
            # A timezone-aware datetime of the moment of the put (a second
            # of slack), not seconds read as milliseconds or the reverse.
            at = r["ApproximateArrivalTimestamp"]
            self.assertIsInstance(at, datetime.datetime)
            self.assertIsNotNone(at.tzinfo)
            self.assertTrue(before - 1 <= at.timestamp() <= after + 1,
                            f"ApproximateArrivalTimestamp {at.isoformat()} is outside {utc(before)}..{utc(after)}")

        # AT_SEQUENCE_NUMBER and AFTER_SEQUENCE_NUMBER.
        got, _ = read_to_end(c, iterator(c, name, shard_id, "AT_SEQUENCE_NUMBER", StartingSequenceNumber=seqs[3]))
        self.assertEqual([r["SequenceNumber"] for r in got], seqs[3:])
        got, _ = read_to_end(c, iterator(c, name, shard_id, "AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=seqs[3]))
        self.assertEqual([r["SequenceNumber"] for r in got], seqs[4:])

        # LATEST: nothing until a record comes after the iterator.
        empty = c.get_records(ShardIterator=iterator(c, name, shard_id, "LATEST"))
        self.assertEqual(empty["Records"], [])
        late = c.put_record(StreamName=name, PartitionKey="late", Data=b"late")
        got, _ = read_to_end(c, empty["NextShardIterator"])
        self.assertEqual([(r["SequenceNumber"], r["Data"]) for r in got], [(late["SequenceNumber"], b"late")])

        # AT_TIMESTAMP: a whole second (botocore 1.29 sends whole seconds)
        # between the records so far and a second group. Wrong units on the
        # way in would read everything (1970) or nothing (far future).
        everything, _ = read_to_end(c, iterator(c, name, shard_id, "TRIM_HORIZON"))
        pivot = wait_for_next_second(everything[-1]["ApproximateArrivalTimestamp"].timestamp())
        second = c.put_records(StreamName=name, Records=[
            {"PartitionKey": f"t{i}", "Data": f"second {i}".encode()} for i in range(3)])
        second_seqs = [r["SequenceNumber"] for r in second["Records"]]
        got, _ = read_to_end(c, iterator(c, name, shard_id, "AT_TIMESTAMP", Timestamp=utc(pivot)))
        self.assertEqual([r["SequenceNumber"] for r in got], second_seqs)
        self.assertTrue(all(r["ApproximateArrivalTimestamp"].timestamp() >= pivot for r in got))
        # A number is taken as epoch seconds by boto3 too.
        got, _ = read_to_end(c, iterator(c, name, shard_id, "AT_TIMESTAMP", Timestamp=pivot))
        self.assertEqual([r["SequenceNumber"] for r in got], second_seqs)
        got, _ = read_to_end(c, iterator(c, name, shard_id, "AT_TIMESTAMP", Timestamp=utc(before - 3600)))
        self.assertEqual(len(got), len(everything) + 3)
        # A timestamp in the future is refused, as AWS does.
        with self.assertRaisesRegex(c.exceptions.InvalidArgumentException, "cannot be greater than the currentTimestampInMillis"):
            iterator(c, name, shard_id, "AT_TIMESTAMP", Timestamp=utc(time.time() + 3600))

        # GetRecords' Limit, and the iterator goes on from there.
        page = c.get_records(ShardIterator=iterator(c, name, shard_id, "TRIM_HORIZON"), Limit=4)
        self.assertEqual(len(page["Records"]), 4)
        rest, _ = read_to_end(c, page["NextShardIterator"])
        self.assertEqual(4 + len(rest), len(everything) + 3)

    def test_routing_by_explicit_hash_key(self):
        c = self.client
        name = stream_name("routing")
        shards = create_stream(c, name, 2)
        top = str((1 << 128) - 1)
        high = c.put_record(StreamName=name, PartitionKey="any", ExplicitHashKey=top, Data=b"high")
        self.assertEqual(high["ShardId"], shards[1]["ShardId"])
        low = c.put_record(StreamName=name, PartitionKey="any", ExplicitHashKey="0", Data=b"low")
        self.assertEqual(low["ShardId"], shards[0]["ShardId"])
        ordered = c.put_record(StreamName=name, PartitionKey="any", ExplicitHashKey="0", Data=b"next",
                               SequenceNumberForOrdering=low["SequenceNumber"])
        self.assertGreater(int(ordered["SequenceNumber"]), int(low["SequenceNumber"]))
        out = c.put_records(StreamName=name, Records=[
            {"PartitionKey": "a", "ExplicitHashKey": top, "Data": b"1"},
            {"PartitionKey": "b", "ExplicitHashKey": "1", "Data": b"2"},
        ])
        self.assertEqual([r["ShardId"] for r in out["Records"]], [shards[1]["ShardId"], shards[0]["ShardId"]])
        got, _ = read_to_end(c, iterator(c, name, shards[1]["ShardId"], "TRIM_HORIZON"))
        self.assertEqual([r["Data"] for r in got], [b"high", b"1"])


if __name__ == "__main__":
    unittest.main()
