"""UpdateShardCount, UpdateStreamMode and stream encryption, as boto3
sends them."""

import unittest

from sluice_helpers import (SluiceTestCase, create_stream, iterator, list_all_shards, read_to_end,
                            stream_name, wait_until)


class ElasticityTest(SluiceTestCase):
    def summary(self, name):
        return self.client.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]

    def test_update_shard_count_and_stream_mode(self):
        c = self.client
        name = stream_name("scale")
        create_stream(c, name, 2)
        c.put_records(StreamName=name, Records=[{"PartitionKey": f"k{i}", "Data": f"before {i}".encode()} for i in range(20)])

        out = c.update_shard_count(StreamName=name, TargetShardCount=4, ScalingType="UNIFORM_SCALING")
        self.assertEqual((out["StreamName"], out["CurrentShardCount"], out["TargetShardCount"]), (name, 2, 4))
        wait_until(lambda: self.summary(name)["StreamStatus"] == "ACTIVE", "ACTIVE after UpdateShardCount", timeout=120)
        self.assertEqual(self.summary(name)["OpenShardCount"], 4)
        c.put_records(StreamName=name, Records=[{"PartitionKey": f"k{i}", "Data": f"after {i}".encode()} for i in range(20)])
        total = 0
        for s in list_all_shards(c, StreamName=name):
            total += len(read_to_end(c, iterator(c, name, s["ShardId"], "TRIM_HORIZON"))[0])
        self.assertEqual(total, 40)
        self.assertError("LimitExceededException", c.update_shard_count, StreamName=name, TargetShardCount=9,
                         ScalingType="UNIFORM_SCALING")

        arn = self.summary(name)["StreamARN"]
        c.update_stream_mode(StreamARN=arn, StreamModeDetails={"StreamMode": "ON_DEMAND"})
        wait_until(lambda: self.summary(name)["StreamModeDetails"]["StreamMode"] == "ON_DEMAND", "ON_DEMAND")
        wait_until(lambda: self.summary(name)["StreamStatus"] == "ACTIVE", "ACTIVE after UpdateStreamMode")
        self.assertError("InvalidArgumentException", c.update_stream_mode, StreamARN=arn,
                         StreamModeDetails={"StreamMode": "ON_DEMAND"})
        self.assertError("ValidationException", c.update_shard_count, StreamName=name, TargetShardCount=2,
                         ScalingType="UNIFORM_SCALING")

    def test_stream_encryption(self):
        c = self.client
        name = stream_name("crypto")
        shard_id = create_stream(c, name, 1)[0]["ShardId"]
        plain = c.put_record(StreamName=name, PartitionKey="k", Data=b"plain")
        self.assertEqual(plain.get("EncryptionType", "NONE"), "NONE")

        c.start_stream_encryption(StreamName=name, EncryptionType="KMS", KeyId="alias/aws/kinesis")
        wait_until(lambda: self.summary(name)["StreamStatus"] == "ACTIVE", "ACTIVE after StartStreamEncryption")
        d = self.summary(name)
        self.assertEqual((d["EncryptionType"], d["KeyId"]), ("KMS", "alias/aws/kinesis"))
        self.assertEqual(c.put_record(StreamName=name, PartitionKey="k", Data=b"secret")["EncryptionType"], "KMS")
        self.assertEqual(c.put_records(StreamName=name, Records=[{"PartitionKey": "k", "Data": b"batch"}])["EncryptionType"], "KMS")

        c.stop_stream_encryption(StreamName=name, EncryptionType="KMS", KeyId="alias/aws/kinesis")
        wait_until(lambda: self.summary(name)["StreamStatus"] == "ACTIVE", "ACTIVE after StopStreamEncryption")
        self.assertEqual(self.summary(name)["EncryptionType"], "NONE")
        c.put_record(StreamName=name, PartitionKey="k", Data=b"plain again")

        records, _ = read_to_end(c, iterator(c, name, shard_id, "TRIM_HORIZON"))
        self.assertEqual([(r["Data"], r.get("EncryptionType", "NONE")) for r in records],
                         [(b"plain", "NONE"), (b"secret", "KMS"), (b"batch", "KMS"), (b"plain again", "NONE")])
        self.assertError("KMSNotFoundException", c.start_stream_encryption, StreamName=name, EncryptionType="KMS",
                         KeyId="alias/no-such-key")


if __name__ == "__main__":
    unittest.main()
