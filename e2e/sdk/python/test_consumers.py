"""Enhanced fan-out consumers' control plane (registration, not
SubscribeToShard) and enhanced monitoring, as boto3 sends them."""

import datetime
import time
import unittest

from sluice_helpers import SluiceTestCase, create_stream, stream_name, wait_until


class ConsumersTest(SluiceTestCase):
    def test_register_describe_list_deregister(self):
        c = self.client
        name = stream_name("consumers")
        create_stream(c, name, 1)
        summary = c.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        arn = summary["StreamARN"]

        before = time.time()
        reg = c.register_stream_consumer(StreamARN=arn, ConsumerName="reader")["Consumer"]
        after = time.time()
        self.assertRegex(reg["ConsumerARN"], rf"^{arn}/consumer/reader:\d+$")
        created = reg["ConsumerCreationTimestamp"]
        self.assertIsInstance(created, datetime.datetime)
        self.assertTrue(before - 1 <= created.timestamp() <= after + 1, f"ConsumerCreationTimestamp {created.isoformat()} is not now")
        self.assertEqual(int(reg["ConsumerARN"].rsplit(":", 1)[1]), int(created.timestamp()))

        wait_until(lambda: c.describe_stream_consumer(ConsumerARN=reg["ConsumerARN"])
                   ["ConsumerDescription"]["ConsumerStatus"] == "ACTIVE", "the consumer ACTIVE")
        by_name = c.describe_stream_consumer(StreamARN=arn, ConsumerName="reader")["ConsumerDescription"]
        self.assertEqual(by_name["ConsumerARN"], reg["ConsumerARN"])
        self.assertEqual(by_name["StreamARN"], arn)

        c.register_stream_consumer(StreamARN=arn, ConsumerName="another")
        names = []
        for page in c.get_paginator("list_stream_consumers").paginate(StreamARN=arn, PaginationConfig={"PageSize": 1}):
            names.extend(x["ConsumerName"] for x in page["Consumers"])
        self.assertEqual(sorted(names), ["another", "reader"])
        # The stream's creation time as boto3 got it (and sends it back,
        # in whole seconds) picks this stream.
        listed = c.list_stream_consumers(StreamARN=arn, StreamCreationTimestamp=summary["StreamCreationTimestamp"])
        self.assertEqual(len(listed["Consumers"]), 2)
        self.assertError("ResourceNotFoundException", c.list_stream_consumers, StreamARN=arn,
                         StreamCreationTimestamp=summary["StreamCreationTimestamp"] - datetime.timedelta(seconds=1))

        self.assertError("ResourceInUseException", c.register_stream_consumer, StreamARN=arn, ConsumerName="reader")
        self.assertError("ResourceInUseException", c.delete_stream, StreamName=name)
        c.deregister_stream_consumer(ConsumerARN=reg["ConsumerARN"])

        def gone():
            try:
                c.describe_stream_consumer(ConsumerARN=reg["ConsumerARN"])
                return False
            except c.exceptions.ResourceNotFoundException:
                return True

        wait_until(gone, "the consumer to be gone")
        c.delete_stream(StreamName=name, EnforceConsumerDeletion=True)

    def test_enhanced_monitoring(self):
        c = self.client
        name = stream_name("monitoring")
        create_stream(c, name, 1)
        on = c.enable_enhanced_monitoring(StreamName=name, ShardLevelMetrics=["IncomingBytes", "OutgoingRecords"])
        self.assertEqual(sorted(on["DesiredShardLevelMetrics"]), ["IncomingBytes", "OutgoingRecords"])
        d = c.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        self.assertEqual(sorted(d["EnhancedMonitoring"][0]["ShardLevelMetrics"]), ["IncomingBytes", "OutgoingRecords"])
        off = c.disable_enhanced_monitoring(StreamName=name, ShardLevelMetrics=["ALL"])
        self.assertEqual(off["DesiredShardLevelMetrics"], [])


if __name__ == "__main__":
    unittest.main()
