"""Shared helpers of the boto3 suite.

e2e/sdk_python_test.go runs ``python3 -m unittest discover`` in this
directory against a real ``sluice serve`` and passes its address in
SLUICE_ENDPOINT. This module is not a test file.
"""

import datetime
import math
import os
import time
import unittest

import boto3
import botocore
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ.get("SLUICE_ENDPOINT")
# A second server, run with --shard-limits aws.
LIMITS_ENDPOINT = os.environ.get("SLUICE_LIMITS_ENDPOINT")
# A third, run with --consumer-create-delay 1h: its consumers stay CREATING.
CREATING_ENDPOINT = os.environ.get("SLUICE_CREATING_ENDPOINT")

_counter = 0


def new_client(endpoint=None, max_attempts=1):
    """A Kinesis client for the server with dummy credentials, by default
    retrying nothing the server answers, so every error reaches the test."""
    if not ENDPOINT:
        raise unittest.SkipTest("SLUICE_ENDPOINT is not set: run this suite through go test ./e2e/ -run TestSDK_Python")
    return boto3.client(
        "kinesis",
        endpoint_url=endpoint or ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id="AKIDSLUICEPY",
        aws_secret_access_key="secret",
        config=Config(retries={"max_attempts": max_attempts, "mode": "standard"}, connect_timeout=30, read_timeout=60),
    )


def stream_name(prefix):
    """A stream name unique across the suite's processes and tests."""
    global _counter
    _counter += 1
    return f"py-{prefix}-{os.getpid()}-{_counter}"


def create_stream(client, name, shard_count):
    """Create a provisioned stream, wait with the SDK's waiter until it is
    ACTIVE, and return its shards in id order."""
    client.create_stream(StreamName=name, ShardCount=shard_count)
    client.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    shards = list_all_shards(client, StreamName=name)
    assert len(shards) == shard_count, shards
    return shards


def list_all_shards(client, **kwargs):
    """Page through ListShards two shards at a time (a NextToken goes
    without the StreamName)."""
    page = client.list_shards(MaxResults=2, **kwargs)
    shards = list(page["Shards"])
    while page.get("NextToken"):
        page = client.list_shards(NextToken=page["NextToken"], MaxResults=2)
        shards.extend(page["Shards"])
    return shards


def register_consumer(client, name, consumer_name):
    """Register a consumer of the stream, wait until it is ACTIVE, and
    return its ARN."""
    arn = client.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    consumer = client.register_stream_consumer(StreamARN=arn, ConsumerName=consumer_name)["Consumer"]["ConsumerARN"]
    wait_until(lambda: client.describe_stream_consumer(ConsumerARN=consumer)
               ["ConsumerDescription"]["ConsumerStatus"] == "ACTIVE", "the consumer ACTIVE")
    return consumer


def iterator(client, name, shard_id, typ, **kwargs):
    return client.get_shard_iterator(StreamName=name, ShardId=shard_id, ShardIteratorType=typ, **kwargs)["ShardIterator"]


def read_to_end(client, it, limit=1000):
    """Follow an iterator until it is caught up or the shard ends; return
    the records and the last response."""
    records = []
    for _ in range(1000):
        last = client.get_records(ShardIterator=it, Limit=limit)
        records.extend(last["Records"])
        if "NextShardIterator" not in last:
            return records, last
        if not last["Records"] and last["MillisBehindLatest"] == 0:
            return records, last
        it = last["NextShardIterator"]
    raise AssertionError("read_to_end: the shard never caught up")


def wait_until(cond, what, timeout=30.0):
    """Wait for a condition without assuming how fast the machine is."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def wait_for_next_second(after):
    """Wait until the clock has passed the whole second after the given
    epoch time, and return that second. botocore 1.29 sends timestamps as
    whole epoch seconds, so a timestamp that separates two groups of
    records must be a whole second between them."""
    second = math.floor(after) + 1
    wait_until(lambda: time.time() >= second + 0.001, "the next whole second")
    return second


def utc(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)


class SluiceTestCase(unittest.TestCase):
    def setUp(self):
        self.client = new_client()
        self.addCleanup(self.client.close)

    def assertError(self, code, fn, *args, status=400, **kwargs):
        """Assert that the call fails with the AWS error code as boto3
        surfaces it: a ClientError that is the client's modelled exception
        class, with the status, a message and a request id."""
        with self.assertRaises(ClientError) as cm:
            fn(*args, **kwargs)
        err = cm.exception
        self.assertEqual(err.response["Error"]["Code"], code, err.response["Error"].get("Message"))
        self.assertIsInstance(err, getattr(self.client.exceptions, code))
        meta = err.response["ResponseMetadata"]
        self.assertEqual(meta["HTTPStatusCode"], status)
        self.assertTrue(meta.get("RequestId"), "no request id")
        self.assertTrue(err.response["Error"].get("Message"), "empty message")
        return err


def versions():
    return f"boto3 {boto3.__version__}, botocore {botocore.__version__}"
