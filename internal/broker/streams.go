package broker

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// CreateStream creates a stream: its log first, then its metadata with a
// put-if-absent, so a name is taken only once its log exists.
func (b *Broker) CreateStream(ctx context.Context, in kinesis.CreateStreamInput) error {
	mode := in.Mode
	if mode == "" {
		// Without a shard count AWS creates an on-demand stream.
		mode = kinesis.ModeProvisioned
		if in.ShardCount == 0 {
			mode = kinesis.ModeOnDemand
		}
	}
	count := in.ShardCount
	switch mode {
	case kinesis.ModeOnDemand:
		if count != 0 {
			return kinesis.Errorf(kinesis.ErrValidation, "1 validation error detected: ShardCount must not be specified for ON_DEMAND streams.")
		}
		count = kinesis.OnDemandInitialShards
	case kinesis.ModeProvisioned:
		if count == 0 {
			return kinesis.Errorf(kinesis.ErrInvalidArgument, "ShardCount is required for streams in PROVISIONED mode.")
		}
	}
	if kib := in.MaxRecordSizeKiB; kib != 0 && (kib < kinesis.DefaultMaxRecordSizeKiB || kib > kinesis.MaxRecordSizeKiBLimit) {
		return kinesis.Errorf(kinesis.ErrInvalidArgument, "MaxRecordSizeInKiB must be between %d and %d, got %d.", kinesis.DefaultMaxRecordSizeKiB, kinesis.MaxRecordSizeKiBLimit, kib)
	}
	if len(in.Tags) > kinesis.MaxTagsPerStream {
		return kinesis.Errorf(kinesis.ErrInvalidArgument, "Failed to create stream %s under account %s because a stream cannot have more than %d tags.", in.Name, b.cfg.AccountID, kinesis.MaxTagsPerStream)
	}
	if err := validateTags(in.Tags); err != nil {
		return err
	}

	if e, err := b.meta.Get(ctx, streamKey(in.Name)); err == nil {
		// A stream whose DELETING time is over frees its name at once,
		// even if the reaper has not removed it yet.
		var old kinesis.Stream
		if json.Unmarshal(e.Value, &old) != nil || !b.gone(&old) {
			return b.streamExists(in.Name)
		}
		if err := b.finishDelete(ctx, &old); err != nil {
			return fmt.Errorf("finish deleting stream %s: %w", in.Name, err)
		}
	} else if !errors.Is(err, kinesis.ErrKeyNotFound) {
		return fmt.Errorf("look up stream %s: %w", in.Name, err)
	}
	streams, err := b.allStreams(ctx)
	if err != nil {
		return err
	}
	open, onDemand := 0, 0
	for _, s := range streams {
		open += len(s.OpenShards())
		if s.Mode == kinesis.ModeOnDemand {
			onDemand++
		}
	}
	if open+count > b.cfg.ShardLimit {
		return kinesis.Errorf(kinesis.ErrLimitExceeded,
			"This request would exceed the shard limit for the account %s in %s. Current shard count for the account: %d. Limit: %d. Number of additional shards that would have resulted from this request: %d. Refer to the AWS Service Limits page ("+kinesis.ShardLimitHelpURL+") for current limits and how to request higher limits.",
			b.cfg.AccountID, b.cfg.Region, open, b.cfg.ShardLimit, count)
	}
	if mode == kinesis.ModeOnDemand && onDemand >= b.cfg.OnDemandStreamLimit {
		return kinesis.Errorf(kinesis.ErrLimitExceeded, "This request would exceed the limit of %d ON_DEMAND streams for the account %s in %s.", b.cfg.OnDemandStreamLimit, b.cfg.AccountID, b.cfg.Region)
	}

	if in.WarmThroughputMiBps != 0 {
		if err := b.checkWarmThroughput(ctx, in.Name, mode, in.WarmThroughputMiBps); err != nil {
			return err
		}
	}

	// One epoch per shard, and one for the stream's first log.
	first, err := b.allocEpochs(ctx, count+1)
	if err != nil {
		return err
	}
	logEpoch := first + uint64(count)
	now := b.cfg.Now().Truncate(time.Millisecond)
	// AWS gives a stream's creation time in whole seconds, and clients
	// send it back as StreamCreationTimestamp (ListShards,
	// ListStreamConsumers), which must match exactly. botocore sends whole
	// seconds whatever it was given, so a finer time would never match.
	created := now.Truncate(time.Second)
	s := &kinesis.Stream{
		Name:             in.Name,
		ID:               newStreamID(),
		ARN:              kinesis.StreamARN(b.cfg.Region, b.cfg.AccountID, in.Name),
		Mode:             mode,
		RetentionHours:   kinesis.DefaultRetentionHours,
		CreatedAt:        created,
		ActiveAt:         now.Add(b.cfg.CreateDelay),
		NextShardIndex:   count,
		Tags:             in.Tags,
		MaxRecordSizeKiB: in.MaxRecordSizeKiB,
	}
	if in.WarmThroughputMiBps != 0 {
		s.WarmThroughputMiBps = &in.WarmThroughputMiBps
	}
	for i, r := range kinesis.SplitHashSpace(count) {
		s.Shards = append(s.Shards, kinesis.Shard{ID: kinesis.ShardID(i), HashRange: r, Epoch: first + uint64(i), CreatedAt: created, FirstLog: logEpoch})
	}
	s.Logs = []kinesis.StreamLog{{Epoch: logEpoch, OpenedAt: now}}
	if err := b.log.CreateLog(ctx, logName(logEpoch), kinesis.LogConfig{MaxAge: b.retention(s)}); err != nil {
		return fmt.Errorf("create log for %s: %w", s.Name, err)
	}
	val, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encode stream %s: %w", s.Name, err)
	}
	// Not cut short by the client going away: from here the stream either
	// exists whole or not at all.
	bg := context.WithoutCancel(ctx)
	rev, err := b.meta.Create(bg, streamKey(s.Name), val)
	if err != nil {
		if errors.Is(err, kinesis.ErrKeyExists) {
			b.deleteLogs(bg, s)
			return b.streamExists(s.Name)
		}
		// The outcome may be unknown (a timeout on a cluster): the
		// descriptor may be stored, and then its log must stay.
		if e, gerr := b.meta.Get(bg, streamKey(s.Name)); gerr == nil {
			var stored kinesis.Stream
			if json.Unmarshal(e.Value, &stored) == nil && stored.ID == s.ID {
				return fmt.Errorf("store stream %s (it was stored): %w", s.Name, err)
			}
		} else if !errors.Is(gerr, kinesis.ErrKeyNotFound) {
			// Unknown whether it was stored: keep the log rather than
			// risk an ACTIVE stream without one.
			return fmt.Errorf("store stream %s: %w", s.Name, err)
		}
		b.deleteLogs(bg, s)
		return fmt.Errorf("store stream %s: %w", s.Name, err)
	}
	b.remember(s, rev)
	b.cfg.Logger.Info("stream created", "stream", s.Name, "shards", count, "mode", mode)
	return nil
}

func (b *Broker) streamExists(name string) error {
	return kinesis.Errorf(kinesis.ErrResourceInUse, "Stream %s under account %s already exists.", name, b.cfg.AccountID)
}

// logEpochs returns the epochs of every log of the stream: its stream
// logs, the own logs of shards from before stream logs, and the pending
// logs of rollovers in progress.
func logEpochs(s *kinesis.Stream) []uint64 {
	var out []uint64
	for _, sh := range s.Shards {
		if sh.HasOwnLog() {
			out = append(out, sh.Epoch)
		}
	}
	for _, l := range s.Logs {
		out = append(out, l.Epoch)
	}
	for _, p := range s.PendingLogs {
		out = append(out, p.Epochs...)
	}
	return out
}

func (b *Broker) deleteLogs(ctx context.Context, s *kinesis.Stream) error {
	var errs []error
	for _, epoch := range logEpochs(s) {
		if err := b.log.DeleteLog(ctx, logName(epoch)); err != nil {
			errs = append(errs, fmt.Errorf("delete log %s of %s: %w", logName(epoch), s.Name, err))
		}
		b.dropAppender(epoch)
	}
	for _, sh := range s.Shards {
		b.recordsPerMsg.Delete(sh.Epoch)
		b.quotas.forget(sh.Epoch)
		b.writes.Delete(sh.Epoch)
	}
	b.forgetActivity(s)
	return errors.Join(errs...)
}

func (b *Broker) retention(s *kinesis.Stream) time.Duration {
	return time.Duration(s.RetentionHours) * b.cfg.RetentionHour
}

// newStreamID returns an id in the shape of DescribeStreamSummary's
// StreamId: 20 and 3 lower-case alphanumerics.
func newStreamID() string {
	return strings.ToLower(rand.Text()[:20] + "-" + rand.Text()[:3])
}

// DeleteStream marks the stream DELETING, consumers and all; a stream with
// consumers is refused unless enforceConsumerDeletion. Its data goes once
// the delete delay is over (at once by default).
func (b *Broker) DeleteStream(ctx context.Context, ref kinesis.StreamRef, enforceConsumerDeletion bool) error {
	name, err := b.resolve(ref)
	if err != nil {
		return err
	}
	s, err := b.update(ctx, name, func(s *kinesis.Stream) error {
		// A CREATING stream may be deleted, as on AWS.
		if s.Status(b.cfg.Now()) == kinesis.StatusDeleting {
			return kinesis.StreamNotFound(name, b.cfg.AccountID)
		}
		if n := b.consumerCount(s); n > 0 && !enforceConsumerDeletion {
			return kinesis.Errorf(kinesis.ErrResourceInUse, "Stream %s under account %s has %d registered consumers. Deregister them first, or set EnforceConsumerDeletion.", name, b.cfg.AccountID, n)
		}
		now := b.cfg.Now()
		s.DeletingAt = now
		s.DeleteAt = now.Add(b.cfg.DeleteDelay)
		return nil
	})
	if err != nil {
		return err
	}
	b.cfg.Logger.Info("stream deleted", "stream", name)
	if b.cfg.DeleteDelay == 0 {
		if err := b.finishDelete(ctx, s); err != nil {
			b.cfg.Logger.Warn("finish deleting stream; will retry", "stream", name, "err", err)
		}
	}
	return nil
}

// finishDelete removes a stream whose DELETING time is over: logs first,
// then the metadata, so a crash in between leaves it for the reaper.
func (b *Broker) finishDelete(ctx context.Context, s *kinesis.Stream) error {
	if err := b.deleteLogs(ctx, s); err != nil {
		return err
	}
	e, err := b.meta.Get(ctx, streamKey(s.Name))
	if errors.Is(err, kinesis.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	var cur kinesis.Stream
	if err := json.Unmarshal(e.Value, &cur); err != nil || cur.ID != s.ID {
		return err // a new stream took the name meanwhile
	}
	if err := b.meta.Delete(ctx, streamKey(s.Name), e.Revision); err != nil && !errors.Is(err, kinesis.ErrRevisionMismatch) {
		return err
	}
	b.forget(s.Name)
	b.m.forgetStream(s.Name) // the other brokers when the metadata watch tells them
	return nil
}

// reapLoop finishes deletions whose DELETING time has passed, including
// those a crashed process left behind.
func (b *Broker) reapLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		b.reap(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (b *Broker) reap(ctx context.Context) {
	entries, err := b.meta.List(ctx, streamKeyPrefix)
	if err != nil {
		if ctx.Err() == nil {
			b.cfg.Logger.Warn("list streams to reap", "err", err)
		}
		return
	}
	for _, e := range entries {
		s, err := b.decodeStream(e)
		if err != nil {
			continue
		}
		if !b.gone(s) {
			b.sweepPendingLogs(ctx, s)
			b.dropExpiredLogs(ctx, s)
			b.resumeScaling(ctx, s)
			continue
		}
		if err := b.finishDelete(ctx, s); err != nil && ctx.Err() == nil {
			b.cfg.Logger.Warn("finish deleting stream", "stream", s.Name, "err", err)
		}
	}
}

// DescribeStream returns the stream with its readable shards.
func (b *Broker) DescribeStream(ctx context.Context, ref kinesis.StreamRef) (kinesis.StreamDescription, error) {
	name, err := b.resolve(ref)
	if err != nil {
		return kinesis.StreamDescription{}, err
	}
	s, _, err := b.loadStream(ctx, name)
	if err != nil {
		return kinesis.StreamDescription{}, err
	}
	d := kinesis.StreamDescription{Stream: *cloneStream(s), Status: s.Status(b.cfg.Now())}
	d.Shards = b.readableShards(s)
	if d.Status == kinesis.StatusCreating {
		d.Shards = []kinesis.Shard{} // AWS lists no shards until the stream is ACTIVE
	}
	d.OpenShardCount = len(s.OpenShards())
	d.ConsumerCount = b.consumerCount(s)
	return d, nil
}

// readableShards leaves out closed shards whose records have all expired.
func (b *Broker) readableShards(s *kinesis.Stream) []kinesis.Shard {
	now := b.cfg.Now()
	out := make([]kinesis.Shard, 0, len(s.Shards))
	for _, sh := range s.Shards {
		if !sh.Open() && now.Sub(sh.ClosedAt) > b.retention(s) {
			continue
		}
		out = append(out, sh)
	}
	return out
}

// ListStreams pages through stream names in lexical order.
func (b *Broker) ListStreams(ctx context.Context, in kinesis.ListStreamsInput) (kinesis.ListStreamsOutput, error) {
	after := in.ExclusiveStartStreamName
	if in.NextToken != "" {
		if after != "" {
			return kinesis.ListStreamsOutput{}, kinesis.Errorf(kinesis.ErrInvalidArgument, "NextToken and ExclusiveStartStreamName cannot be provided together.")
		}
		t, err := b.decodePageToken(in.NextToken, pageStreams)
		if err != nil {
			return kinesis.ListStreamsOutput{}, err
		}
		after = t.After
	}
	limit := in.Limit
	if limit <= 0 || limit > 100 {
		limit = 100
	}
	streams, err := b.allStreams(ctx)
	if err != nil {
		return kinesis.ListStreamsOutput{}, err
	}
	slices.SortFunc(streams, func(x, y *kinesis.Stream) int { return strings.Compare(x.Name, y.Name) })
	var out kinesis.ListStreamsOutput
	now := b.cfg.Now()
	for _, s := range streams {
		if s.Name <= after {
			continue
		}
		if len(out.Streams) == limit {
			out.HasMore = true
			break
		}
		out.Streams = append(out.Streams, kinesis.StreamSummary{Name: s.Name, ARN: s.ARN, Status: s.Status(now), Mode: s.Mode, CreatedAt: s.CreatedAt})
	}
	if out.HasMore {
		out.NextToken = b.encodePageToken(pageToken{Kind: pageStreams, After: out.Streams[len(out.Streams)-1].Name})
	}
	return out, nil
}

// SetRetention changes the retention period of the stream and its logs.
func (b *Broker) SetRetention(ctx context.Context, ref kinesis.StreamRef, hours int, increase bool) error {
	name, err := b.resolve(ref)
	if err != nil {
		return err
	}
	if hours < kinesis.MinRetentionHours {
		return kinesis.Errorf(kinesis.ErrInvalidArgument, "Minimum allowed retention period is %d hours. Requested retention period (%d hours) is too short.", kinesis.MinRetentionHours, hours)
	}
	if hours > kinesis.MaxRetentionHours {
		return kinesis.Errorf(kinesis.ErrInvalidArgument, "Maximum allowed retention period is %d hours. Requested retention period (%d hours) is too long.", kinesis.MaxRetentionHours, hours)
	}
	s, err := b.update(ctx, name, func(s *kinesis.Stream) error {
		if err := b.requireActive(s); err != nil {
			return err
		}
		switch {
		case increase && hours < s.RetentionHours:
			return kinesis.Errorf(kinesis.ErrInvalidArgument, "Requested retention period (%d hours) for stream %s can not be shorter than existing retention period (%d hours). Use DecreaseRetentionPeriod API.", hours, name, s.RetentionHours)
		case !increase && hours > s.RetentionHours:
			return kinesis.Errorf(kinesis.ErrInvalidArgument, "Requested retention period (%d hours) for stream %s can not be longer than existing retention period (%d hours). Use IncreaseRetentionPeriod API.", hours, name, s.RetentionHours)
		}
		if hours > s.RetentionHours {
			if floor := b.cfg.Now().Add(-b.retention(s)).Truncate(time.Millisecond); floor.After(s.ExpiredBefore) {
				s.ExpiredBefore = floor
			}
		}
		s.RetentionHours = hours
		return nil
	})
	if err != nil {
		return err
	}
	return b.applyRetention(ctx, s)
}

// applyRetention sets the retention period of every log of the stream.
func (b *Broker) applyRetention(ctx context.Context, s *kinesis.Stream) error {
	cfg := kinesis.LogConfig{MaxAge: b.retention(s)}
	for _, epoch := range logEpochs(s) {
		if err := b.log.UpdateLog(ctx, logName(epoch), cfg); err != nil && !errors.Is(err, kinesis.ErrLogNotFound) {
			return fmt.Errorf("set retention of %s: %w", s.Name, err)
		}
	}
	return nil
}

// UpdateMaxRecordSize sets the largest record the stream accepts; records
// already stored are not affected.
func (b *Broker) UpdateMaxRecordSize(ctx context.Context, ref kinesis.StreamRef, kib int) error {
	name, err := b.resolve(ref)
	if err != nil {
		return err
	}
	if kib < kinesis.DefaultMaxRecordSizeKiB || kib > kinesis.MaxRecordSizeKiBLimit {
		return kinesis.Errorf(kinesis.ErrInvalidArgument, "MaxRecordSizeInKiB must be between %d and %d, got %d.", kinesis.DefaultMaxRecordSizeKiB, kinesis.MaxRecordSizeKiBLimit, kib)
	}
	_, err = b.update(ctx, name, func(s *kinesis.Stream) error {
		if err := b.requireActive(s); err != nil {
			return err
		}
		s.MaxRecordSizeKiB = kib
		return nil
	})
	return err
}

func (b *Broker) requireActive(s *kinesis.Stream) error {
	if st := s.Status(b.cfg.Now()); st != kinesis.StatusActive {
		return kinesis.Errorf(kinesis.ErrResourceInUse, "Stream %s under account %s not ACTIVE, instead in state %s", s.Name, b.cfg.AccountID, st)
	}
	return nil
}

// DescribeLimits reports the account's shard and on-demand limits.
func (b *Broker) DescribeLimits(ctx context.Context) (kinesis.Limits, error) {
	streams, err := b.allStreams(ctx)
	if err != nil {
		return kinesis.Limits{}, err
	}
	l := kinesis.Limits{ShardLimit: b.cfg.ShardLimit, OnDemandStreamCountLimit: b.cfg.OnDemandStreamLimit}
	for _, s := range streams {
		l.OpenShardCount += len(s.OpenShards())
		if s.Mode == kinesis.ModeOnDemand {
			l.OnDemandStreamCount++
		}
	}
	return l, nil
}

// sortedShards returns shards ordered by id, which for our ids is creation
// order.
func sortedShards(shards []kinesis.Shard) []kinesis.Shard {
	out := slices.Clone(shards)
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
