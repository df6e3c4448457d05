package kinesis

import (
	"testing"
	"time"
)

func TestParseConsumerARN(t *testing.T) {
	stream := StreamARN("us-east-1", "123456789012", "s")
	created := time.Unix(1712297228, 480_000_000)
	tests := []struct {
		arn      string
		name     string
		epoch    int64
		wantFail bool
	}{
		{arn: ConsumerARN(stream, "app.v1-x_y", created), name: "app.v1-x_y", epoch: 1712297228},
		{arn: stream + "/consumer/a:b:0", name: "a:b", epoch: 0},
		{arn: stream, wantFail: true},
		{arn: stream + "/consumer/app", wantFail: true},
		{arn: stream + "/consumer/:12", wantFail: true},
		{arn: stream + "/consumer/app:-1", wantFail: true},
		{arn: stream + "/consumer/app:x", wantFail: true},
		{arn: "arn:aws:kinesis:us-east-1:123456789012:table/s/consumer/app:1", wantFail: true},
	}
	for _, tt := range tests {
		gotStream, name, epoch, ok := ParseConsumerARN(tt.arn)
		if ok == tt.wantFail {
			t.Errorf("ParseConsumerARN(%q) ok = %v", tt.arn, ok)
			continue
		}
		if ok && (gotStream != stream || name != tt.name || epoch != tt.epoch) {
			t.Errorf("ParseConsumerARN(%q) = %q, %q, %d", tt.arn, gotStream, name, epoch)
		}
	}
}

func TestConsumer_Status(t *testing.T) {
	now := time.Now()
	c := Consumer{CreatedAt: now, ActiveAt: now.Add(time.Second)}
	if got := c.Status(now); got != ConsumerCreating {
		t.Errorf("before ActiveAt: %s", got)
	}
	if got := c.Status(now.Add(time.Second)); got != ConsumerActive {
		t.Errorf("at ActiveAt: %s", got)
	}
}
