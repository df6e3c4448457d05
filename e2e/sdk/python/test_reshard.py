"""SplitShard and MergeShards, parents read before children through
ChildShards, and ListShards with every ShardFilter."""

import time
import unittest

from sluice_helpers import (SluiceTestCase, create_stream, iterator, list_all_shards, read_to_end,
                            stream_name, utc, wait_for_next_second, wait_until)


def sid(n):
    return f"shardId-{n:012d}"


class ReshardTest(SluiceTestCase):
    def read_closed(self, name, shard_id):
        """Read a closed shard to its end: ChildShards, no NextShardIterator."""
        records, last = read_to_end(self.client, iterator(self.client, name, shard_id, "TRIM_HORIZON"))
        self.assertNotIn("NextShardIterator", last, f"closed {shard_id} still gives a NextShardIterator")
        self.assertTrue(last.get("ChildShards"), f"closed {shard_id} read to its end gives no ChildShards")
        return records, last["ChildShards"]

    def wait_active(self, name):
        wait_until(lambda: self.client.describe_stream_summary(StreamName=name)
                   ["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE", f"{name} ACTIVE")

    def test_split_merge_and_read_lineage(self):
        c = self.client
        name = stream_name("reshard")
        create_stream(c, name, 1)
        created = c.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamCreationTimestamp"]

        nxt = {}

        def put(round_):
            entries = []
            for k in range(10):
                key = f"key-{k}"
                nxt[key] = nxt.get(key, -1) + 1
                entries.append({"PartitionKey": key, "Data": f"{key}/{nxt[key]}/{round_}".encode()})
            self.assertEqual(c.put_records(StreamName=name, Records=entries)["FailedRecordCount"], 0)

        put("a")
        # Whole seconds separate creation, the split and the merge, since
        # botocore sends timestamps as whole seconds.
        before_split = wait_for_next_second(time.time())
        mid = 1 << 127
        c.split_shard(StreamName=name, ShardToSplit=sid(0), NewStartingHashKey=str(mid))
        self.wait_active(name)
        put("b")
        self.assertError("InvalidArgumentException", c.split_shard,
                         StreamName=name, ShardToSplit=sid(0), NewStartingHashKey=str(mid))
        after_split = wait_for_next_second(time.time())
        c.merge_shards(StreamName=name, ShardToMerge=sid(1), AdjacentShardToMerge=sid(2))
        self.wait_active(name)
        put("c")
        after_merge = wait_for_next_second(time.time())

        shards = list_all_shards(c, StreamName=name)
        self.assertEqual([s["ShardId"] for s in shards], [sid(i) for i in range(4)])
        parent, low, high, merged = shards
        self.assertNotIn("ParentShardId", parent)
        self.assertEqual(low["ParentShardId"], sid(0))
        self.assertEqual(high["ParentShardId"], sid(0))
        self.assertEqual(merged["ParentShardId"], sid(1))
        self.assertEqual(merged["AdjacentParentShardId"], sid(2))
        for s in (parent, low, high):
            self.assertRegex(s["SequenceNumberRange"].get("EndingSequenceNumber", ""), r"^\d+$")
        self.assertNotIn("EndingSequenceNumber", merged["SequenceNumberRange"])
        self.assertEqual(low["HashKeyRange"], {"StartingHashKey": "0", "EndingHashKey": str(mid - 1)})
        self.assertEqual(high["HashKeyRange"], {"StartingHashKey": str(mid), "EndingHashKey": str((1 << 128) - 1)})
        self.assertEqual(merged["HashKeyRange"], {"StartingHashKey": "0", "EndingHashKey": str((1 << 128) - 1)})

        # Parents, then children, following ChildShards.
        p_records, p_children = self.read_closed(name, sid(0))
        self.assertEqual(sorted(ch["ShardId"] for ch in p_children), [sid(1), sid(2)])
        for ch in p_children:
            self.assertEqual(ch["ParentShards"], [sid(0)])
            self.assertIn("StartingHashKey", ch["HashKeyRange"])
        lo_records, lo_children = self.read_closed(name, sid(1))
        hi_records, hi_children = self.read_closed(name, sid(2))
        for children in (lo_children, hi_children):
            self.assertEqual([ch["ShardId"] for ch in children], [sid(3)])
            self.assertEqual(sorted(children[0]["ParentShards"]), [sid(1), sid(2)])
        tail, last = read_to_end(c, iterator(c, name, sid(3), "TRIM_HORIZON"))
        self.assertIn("NextShardIterator", last)
        seen = {}
        total = 0
        for r in p_records + lo_records + hi_records + tail:
            key, n, _ = r["Data"].decode().split("/")
            self.assertEqual(int(n), seen.get(key, -1) + 1, f"key {key}: record {n} read after {seen.get(key)}")
            seen[key] = int(n)
            total += 1
        self.assertEqual(total, 30)

        # Every ShardFilter. Timestamps go out as whole epoch seconds; wrong
        # units would land in 1970 or far in the future and pick others.
        def ids(**flt):
            return [s["ShardId"] for s in list_all_shards(c, StreamName=name, ShardFilter=flt)]

        every = [sid(i) for i in range(4)]
        self.assertEqual(ids(Type="FROM_TRIM_HORIZON"), every)
        self.assertEqual(ids(Type="AT_TRIM_HORIZON"), [sid(0)])
        self.assertEqual(ids(Type="AT_LATEST"), [sid(3)])
        self.assertEqual(ids(Type="AFTER_SHARD_ID", ShardId=sid(1)), [sid(2), sid(3)])
        self.assertEqual(ids(Type="AT_TIMESTAMP", Timestamp=utc(before_split)), [sid(0)])
        self.assertEqual(ids(Type="AT_TIMESTAMP", Timestamp=utc(after_split)), [sid(1), sid(2)])
        self.assertEqual(ids(Type="AT_TIMESTAMP", Timestamp=utc(after_merge)), [sid(3)])
        self.assertEqual(ids(Type="FROM_TIMESTAMP", Timestamp=created), every)
        self.assertEqual(ids(Type="FROM_TIMESTAMP", Timestamp=utc(after_split)), [sid(1), sid(2), sid(3)])
        self.assertEqual(ids(Type="FROM_TIMESTAMP", Timestamp=utc(after_merge)), [sid(3)])
        page = c.list_shards(StreamName=name, ExclusiveStartShardId=sid(2), StreamCreationTimestamp=created)
        self.assertEqual([s["ShardId"] for s in page["Shards"]], [sid(3)])
        self.assertError("InvalidArgumentException", c.list_shards, StreamName=name, ShardFilter={"Type": "AFTER_SHARD_ID"})
        self.assertError("InvalidArgumentException", c.list_shards, StreamName=name, ShardFilter={"Type": "AT_TIMESTAMP"})

        desc = c.describe_stream(StreamName=name)["StreamDescription"]
        self.assertEqual([s["ShardId"] for s in desc["Shards"]], every)
        self.assertFalse(desc["HasMoreShards"])
        self.assertEqual(c.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["OpenShardCount"], 1)

    def test_resharding_errors(self):
        c = self.client
        name = stream_name("reshard-errors")
        create_stream(c, name, 3)
        self.assertError("InvalidArgumentException", c.merge_shards, StreamName=name, ShardToMerge=sid(0), AdjacentShardToMerge=sid(2))
        self.assertError("ResourceNotFoundException", c.merge_shards, StreamName=name, ShardToMerge=sid(0), AdjacentShardToMerge=sid(9))
        self.assertError("ResourceNotFoundException", c.split_shard, StreamName=name, ShardToSplit=sid(9), NewStartingHashKey="5")
        self.assertError("InvalidArgumentException", c.split_shard, StreamName=name, ShardToSplit=sid(1), NewStartingHashKey="0")
        self.assertError("ValidationException", c.split_shard, StreamName=name, ShardToSplit=sid(1), NewStartingHashKey="x")
        od = stream_name("on-demand")
        c.create_stream(StreamName=od, StreamModeDetails={"StreamMode": "ON_DEMAND"})
        self.wait_active(od)
        self.assertError("ValidationException", c.split_shard, StreamName=od, ShardToSplit=sid(0), NewStartingHashKey="5")


if __name__ == "__main__":
    unittest.main()
