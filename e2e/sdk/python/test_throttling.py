"""Throttling on a server run with --shard-limits aws: the error codes are
the ones botocore's standard retry mode treats as throttling, per entry
inside PutRecords and as exceptions elsewhere, and a client with retries
gets through."""

import unittest
from concurrent.futures import ThreadPoolExecutor

from botocore.exceptions import ClientError
from botocore.retries.standard import ThrottledRetryableChecker

from sluice_helpers import LIMITS_ENDPOINT, SluiceTestCase, create_stream, new_client, stream_name


@unittest.skipUnless(LIMITS_ENDPOINT, "SLUICE_LIMITS_ENDPOINT is not set")
class ThrottlingTest(SluiceTestCase):
    def setUp(self):
        self.client = new_client(LIMITS_ENDPOINT)
        self.addCleanup(self.client.close)

    def throttled(self, fn, rounds=20, **kwargs):
        """Call fn four at a time, so that a slow machine cannot spread the
        calls below the rate, until one fails; return the error."""
        with ThreadPoolExecutor(4) as pool:
            for _ in range(rounds):
                for f in [pool.submit(fn, **kwargs) for _ in range(4)]:
                    try:
                        f.result()
                    except ClientError as e:
                        return e
        self.fail(f"not throttled in {rounds * 4} calls")

    def test_throttling(self):
        c = self.client
        name = stream_name("throttle")
        create_stream(c, name, 1)

        # 1.8 MiB in one PutRecords to a shard that takes 1 MiB/s.
        data = bytes(600 * 1024)
        out = c.put_records(StreamName=name, Records=[{"PartitionKey": f"k{i}", "Data": data} for i in range(3)])
        self.assertGreaterEqual(out["FailedRecordCount"], 1)
        self.assertRegex(out["Records"][0]["SequenceNumber"], r"^\d+$")
        failed = [r for r in out["Records"] if "ErrorCode" in r]
        self.assertEqual(len(failed), out["FailedRecordCount"])
        for r in failed:
            self.assertEqual(r["ErrorCode"], "ProvisionedThroughputExceededException")
            self.assertRegex(r["ErrorMessage"], r"^Rate exceeded for shard shardId-000000000000 in stream ")
            self.assertNotIn("SequenceNumber", r)

        throttled_codes = ThrottledRetryableChecker._THROTTLED_ERROR_CODES
        err = self.throttled(c.put_record, StreamName=name, PartitionKey="k", Data=bytes(900 * 1024))
        self.assertIsInstance(err, c.exceptions.ProvisionedThroughputExceededException)
        self.assertEqual(err.response["ResponseMetadata"]["HTTPStatusCode"], 400)
        self.assertIn(err.response["Error"]["Code"], throttled_codes)

        patient = new_client(LIMITS_ENDPOINT, max_attempts=10)
        self.addCleanup(patient.close)
        ok = patient.put_record(StreamName=name, PartitionKey="k", Data=bytes(900 * 1024))
        self.assertRegex(ok["SequenceNumber"], r"^\d+$")

        err = self.throttled(c.describe_limits)
        self.assertIsInstance(err, c.exceptions.LimitExceededException)
        self.assertRegex(err.response["Error"]["Message"], r"^Rate exceeded for account ")
        self.assertIn(err.response["Error"]["Code"], throttled_codes)


if __name__ == "__main__":
    unittest.main()
