package jetstream

import (
	"strings"
	"testing"
)

func TestRedactURLs(t *testing.T) {
	got := RedactURLs("nats://sluice:secret@n1:4222,nats://n2:4222,tls://u:p@n3:4222")
	if strings.Contains(got, "secret") || strings.Contains(got, ":p@") || !strings.Contains(got, "nats://n2:4222") || !strings.Contains(got, "sluice:") {
		t.Errorf("RedactURLs = %q", got)
	}
}
