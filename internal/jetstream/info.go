package jetstream

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// Info describes the store and its use: the JetStream account's storage
// bytes and stream count, one request to JetStream.
func (b *Backend) Info(ctx context.Context) (kinesis.StorageInfo, error) {
	out := kinesis.StorageInfo{Embedded: b.srv != nil, Replicas: b.cfg.Replicas, Location: b.cfg.DataDir}
	if !out.Embedded {
		out.Location = redactURLs(b.cfg.URL)
	}
	ctx, cancel := b.opCtx(ctx)
	defer cancel()
	ai, err := b.js.AccountInfo(ctx)
	if err != nil {
		return out, fmt.Errorf("jetstream account info: %w", err)
	}
	out.Bytes, out.Logs = ai.Store, ai.Streams
	return out, nil
}

// redactURLs drops user information from comma-separated NATS URLs.
func redactURLs(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if u, err := url.Parse(p); err == nil && u.User != nil {
			u.User = nil
			p = u.String()
		}
		parts[i] = p
	}
	return strings.Join(parts, ",")
}
