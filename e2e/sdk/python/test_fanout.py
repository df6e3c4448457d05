"""Enhanced fan-out: SubscribeToShard as boto3 does it. botocore 1.29
sends it over HTTP/1.1 and reads the application/vnd.amazon.eventstream
body as it arrives (chunked); response["EventStream"] iterates over the
events, raising EventStreamError for an exception event."""

import time
import unittest

from botocore.exceptions import EventStreamError

from sluice_helpers import (CREATING_ENDPOINT, SluiceTestCase, create_stream, new_client, register_consumer,
                            stream_name, utc, wait_for_next_second, wait_until)


class Feed:
    """An open SubscribeToShard feed."""

    def __init__(self, out):
        self.stream = out["EventStream"]
        self.events = iter(self.stream)

    def next_event(self):
        """The next SubscribeToShardEvent, or None when the feed ends."""
        for event in self.events:
            if "SubscribeToShardEvent" in event:
                return event["SubscribeToShardEvent"]
        return None

    def read_records(self, n):
        """Read events until n records have come; return the records and
        the last event."""
        records, last = [], None
        while len(records) < n:
            last = self.next_event()
            assert last is not None, f"the feed ended after {len(records)} of {n} records"
            records.extend(last["Records"])
        return records, last

    def close(self):
        # Drops the connection, which ends the feed on the server.
        self.stream.close()


class FanOutTest(SluiceTestCase):
    def subscribe(self, consumer, shard_id, client=None, **position):
        """Open a feed, closed at the end of the test. botocore's parser
        has read the stream's initial-response before this returns (it
        raises ResponseParserError for a stream without one)."""
        out = (client or self.client).subscribe_to_shard(ConsumerARN=consumer, ShardId=shard_id, StartingPosition=position)
        self.assertEqual(out["ResponseMetadata"]["HTTPStatusCode"], 200)
        self.assertEqual(out["ResponseMetadata"]["HTTPHeaders"]["content-type"], "application/vnd.amazon.eventstream")
        feed = Feed(out)
        self.addCleanup(feed.close)
        return feed

    def subscribe_when_free(self, consumer, shard_id, **position):
        """Subscribe once the consumer's previous feed of the shard has
        ended (the server refuses a second feed until it sees the first
        one's connection close)."""
        feed = None

        def subscribed():
            nonlocal feed
            try:
                feed = self.subscribe(consumer, shard_id, **position)
                return True
            except self.client.exceptions.ResourceInUseException:
                return False

        wait_until(subscribed, "the previous feed to end")
        return feed

    def put(self, name, data):
        return self.client.put_record(StreamName=name, PartitionKey="k", Data=data)["SequenceNumber"]

    def test_starting_positions_and_continuation(self):
        c = self.client
        name = stream_name("efo")
        shard = create_stream(c, name, 1)[0]["ShardId"]
        consumer = register_consumer(c, name, "py-reader")

        before = time.time()
        seqs = [self.put(name, d) for d in (b"a", b"b", b"c")]
        # A batch, so that the feed's first events carry many records.
        batch = [{"PartitionKey": f"p{i}", "Data": f"r{i}".encode()} for i in range(300)]
        out = c.put_records(StreamName=name, Records=batch)
        self.assertEqual(out["FailedRecordCount"], 0)
        seqs += [r["SequenceNumber"] for r in out["Records"]]
        after = time.time()
        want = [b"a", b"b", b"c"] + [r["Data"] for r in batch]

        feed = self.subscribe(consumer, shard, Type="TRIM_HORIZON")
        records, last = feed.read_records(len(want))
        self.assertEqual([r["Data"] for r in records], want)
        self.assertEqual([r["SequenceNumber"] for r in records], seqs)
        self.assertEqual([r["PartitionKey"] for r in records], ["k"] * 3 + [r["PartitionKey"] for r in batch])
        for r in records:
            arrival = r["ApproximateArrivalTimestamp"]
            self.assertTrue(before - 1 <= arrival.timestamp() <= after + 1, f"ApproximateArrivalTimestamp {arrival.isoformat()} is not when it was put")
        arrivals = [r["ApproximateArrivalTimestamp"] for r in records]
        self.assertEqual(arrivals, sorted(arrivals))
        self.assertEqual(last["ContinuationSequenceNumber"], seqs[-1])
        self.assertIsInstance(last["MillisBehindLatest"], int)
        self.assertGreaterEqual(last["MillisBehindLatest"], 0)

        # The open feed gets a new record pushed.
        d = self.put(name, b"d")
        records, last = feed.read_records(1)
        self.assertEqual([(r["Data"], r["SequenceNumber"]) for r in records], [(b"d", d)])
        continuation = last["ContinuationSequenceNumber"]
        self.assertEqual(continuation, d)

        # One feed per consumer and shard.
        self.assertError("ResourceInUseException", c.subscribe_to_shard, ConsumerARN=consumer, ShardId=shard,
                         StartingPosition={"Type": "LATEST"})
        feed.close()

        # Resubscribing from the continuation gives what came after it,
        # once: the next event after it is an idle one.
        e = self.put(name, b"e")
        feed = self.subscribe_when_free(consumer, shard, Type="AFTER_SEQUENCE_NUMBER", SequenceNumber=continuation)
        records, last = feed.read_records(1)
        self.assertEqual([(r["Data"], r["SequenceNumber"]) for r in records], [(b"e", e)])
        idle = feed.next_event()
        self.assertEqual(idle["Records"], [])
        self.assertEqual(idle["ContinuationSequenceNumber"], e)
        self.assertEqual(idle["MillisBehindLatest"], 0)
        feed.close()

        feed = self.subscribe_when_free(consumer, shard, Type="AT_SEQUENCE_NUMBER", SequenceNumber=seqs[1])
        records, _ = feed.read_records(len(want) + 1)
        self.assertEqual([r["Data"] for r in records], want[1:] + [b"d", b"e"])
        feed.close()

        # LATEST starts after the last record stored when the feed opens.
        feed = self.subscribe_when_free(consumer, shard, Type="LATEST")
        f = self.put(name, b"f")
        records, _ = feed.read_records(1)
        self.assertEqual([(r["Data"], r["SequenceNumber"]) for r in records], [(b"f", f)])
        feed.close()

        # AT_TIMESTAMP, in the whole seconds botocore 1.29 sends.
        second = wait_for_next_second(time.time())
        self.put(name, b"g")
        feed = self.subscribe_when_free(consumer, shard, Type="AT_TIMESTAMP", Timestamp=utc(second))
        records, _ = feed.read_records(1)
        self.assertEqual([r["Data"] for r in records], [b"g"])

    def test_errors(self):
        c = self.client
        name = stream_name("efo-errors")
        shard = create_stream(c, name, 1)[0]["ShardId"]
        consumer = register_consumer(c, name, "py-errors")
        self.assertError("ResourceNotFoundException", c.subscribe_to_shard, ConsumerARN=consumer + "0", ShardId=shard,
                         StartingPosition={"Type": "LATEST"})
        self.assertError("ResourceNotFoundException", c.subscribe_to_shard, ConsumerARN=consumer,
                         ShardId="shardId-000000000009", StartingPosition={"Type": "LATEST"})

        # Deregistering the consumer ends its open feed with an exception
        # event, which the iterator raises.
        feed = self.subscribe(consumer, shard, Type="LATEST")
        self.put(name, b"x")
        feed.read_records(1)
        c.deregister_stream_consumer(ConsumerARN=consumer)
        with self.assertRaises(EventStreamError) as cm:
            while feed.next_event() is not None:
                pass
        self.assertEqual(cm.exception.response["Error"]["Code"], "ResourceNotFoundException")
        self.assertTrue(cm.exception.response["Error"]["Message"], "empty message")

    @unittest.skipUnless(CREATING_ENDPOINT, "SLUICE_CREATING_ENDPOINT is not set")
    def test_creating_consumer(self):
        c = new_client(CREATING_ENDPOINT)
        self.addCleanup(c.close)
        name = stream_name("efo-creating")
        shard = create_stream(c, name, 1)[0]["ShardId"]
        arn = c.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
        consumer = c.register_stream_consumer(StreamARN=arn, ConsumerName="py-creating")["Consumer"]["ConsumerARN"]
        self.assertEqual(c.describe_stream_consumer(ConsumerARN=consumer)["ConsumerDescription"]["ConsumerStatus"], "CREATING")
        err = self.assertError("ResourceInUseException", c.subscribe_to_shard, ConsumerARN=consumer, ShardId=shard,
                               StartingPosition={"Type": "LATEST"})
        self.assertIn("is not in ACTIVE status", err.response["Error"]["Message"])


if __name__ == "__main__":
    unittest.main()
