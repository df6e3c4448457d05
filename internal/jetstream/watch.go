package jetstream

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// WatchAppends follows the log's stream with an ordered consumer that
// delivers headers only, from the message after the leader's last one on: JetStream sends each
// message to it once it is stored, so fn learns of appends made through
// any server. Barriers of SealLog are reported too; they are harmless
// wake-ups. The consumer is ephemeral and goes away with ctx.
func (b *Backend) WatchAppends(ctx context.Context, name string, fn func(lastSeq uint64)) error {
	if err := checkLogName(name); err != nil {
		return err
	}
	var cons jetstream.Consumer
	err := b.retryIdempotent(ctx, func(ctx context.Context) error {
		s, err := b.js.Stream(ctx, name)
		if err != nil {
			return err
		}
		// Start after the leader's last message rather than DeliverNew:
		// in a cluster the consumer may sit on a replica that has not yet
		// stored every acknowledged append, and would report those.
		cons, err = b.js.OrderedConsumer(ctx, name, jetstream.OrderedConsumerConfig{
			DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
			OptStartSeq:   s.CachedInfo().State.LastSeq + 1,
			HeadersOnly:   true,
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("watch log %s: %w", name, mapStreamErr(err))
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		if md, err := m.Metadata(); err == nil {
			fn(md.Sequence.Stream)
		}
	}, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		if !errors.Is(err, jetstream.ErrConsumerDeleted) {
			b.log.Debug("log watch", "log", name, "err", err)
		}
	}))
	if err != nil {
		return fmt.Errorf("watch log %s: %w", name, mapStreamErr(err))
	}
	b.watchers.Add(1)
	go func() {
		defer b.watchers.Done()
		select {
		case <-ctx.Done():
		case <-b.stop:
		}
		cc.Stop()
	}()
	return nil
}
