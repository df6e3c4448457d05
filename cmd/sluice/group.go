package main

// `sluice group list|describe|reset`: the consumer groups of a lease table
// endpoint, as `rpk group` and `kafka-consumer-groups` show Kafka's. A
// group is a lease table in the KCL's schema (hash key leaseKey), written
// by `sluice tail --group`, the consumer package or the KCL itself: one
// lease per shard with its owner and checkpoint.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicehq/sluice/consumer"
)

const groupHelp = `A consumer group is the set of workers sharing a stream's shards through a
lease table in the KCL's schema: ` + "`sluice tail --group NAME`" + `, the Go consumer
package and the KCL all write one. The lease table of group NAME is NAME
itself when that is a valid DynamoDB table name (3 to 255 characters of
a-z A-Z 0-9 _ . -); otherwise it is "` + groupTablePrefix + `" followed by NAME with
other characters replaced by "_", and, if any were replaced or it is too
long, "-" and 8 hex digits of NAME's SHA-256. --lease-table names another.`

func groupCommands() []command {
	return []command{
		{name: "list", summary: "list the consumer groups (lease tables) at the endpoint", run: runGroupList},
		{name: "describe", summary: "show a group's shards, owners, checkpoints and lag", run: runGroupDescribe},
		{name: "reset", summary: "move a group's checkpoints to a time or a position", run: runGroupReset},
	}
}

// groupTablePrefix starts the lease table of a group whose name is not a
// valid table name by itself.
const groupTablePrefix = "sluice-group-"

// leaseTableName is the lease table of a consumer group (groupHelp).
func leaseTableName(group string) string {
	if validTableName(group) {
		return group
	}
	var b strings.Builder
	changed := false
	for _, r := range group {
		if r < 0x80 && isTableNameChar(byte(r)) {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
			changed = true
		}
	}
	name := groupTablePrefix + b.String()
	if maxLen := 255 - len("-01234567"); len(name) > maxLen {
		name, changed = name[:maxLen], true
	}
	if changed {
		sum := sha256.Sum256([]byte(group))
		name += "-" + hex.EncodeToString(sum[:4])
	}
	return name
}

// groupOfTable is the group whose lease table is table: the inverse of
// leaseTableName where it is one, else the table's own name.
func groupOfTable(table string) string {
	if g, ok := strings.CutPrefix(table, groupTablePrefix); ok && g != "" && leaseTableName(g) == table {
		return g
	}
	return table
}

func validTableName(s string) bool {
	if len(s) < 3 || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTableNameChar(s[i]) {
			return false
		}
	}
	return true
}

func isTableNameChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-'
}

// groupCmdFlags are the flags of the group commands.
type groupCmdFlags struct {
	clientFlags
	ddbEndpoint string
	table       string
}

func (g *groupCmdFlags) register(fs *flag.FlagSet, env *cmdEnv, withTable bool) {
	g.clientFlags.register(fs, env)
	fs.StringVar(&g.ddbEndpoint, "dynamodb-endpoint", env.getenv("AWS_ENDPOINT_URL_DYNAMODB"),
		"DynamoDB endpoint `url` of the lease tables, or \"aws\" (default $AWS_ENDPOINT_URL_DYNAMODB, else --endpoint: Sluice serves DynamoDB on its Kinesis port)")
	if withTable {
		fs.StringVar(&g.table, "lease-table", "", "the group's lease `table` (default: derived from the group name: see sluice group --help)")
	}
}

func (g *groupCmdFlags) dynamoDB(ctx context.Context) (*dynamodb.Client, error) {
	gf := groupFlags{ddbEndpoint: g.ddbEndpoint}
	return gf.dynamoDB(ctx, &g.clientFlags)
}

func (g *groupCmdFlags) tableFor(group string) string {
	if g.table != "" {
		return g.table
	}
	return leaseTableName(group)
}

type leaseTableAPI interface {
	ListTables(ctx context.Context, in *dynamodb.ListTablesInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ListTablesOutput, error)
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
}

// groupSummary is one line of `group list`.
type groupSummary struct {
	Group      string `json:"Group"`
	LeaseTable string `json:"LeaseTable"`
	Leases     int    `json:"Leases"`
	Finished   int    `json:"Finished"`
	Workers    int    `json:"Workers"`
}

func runGroupList(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "group list", "sluice group list [flags]\n\n"+
		"Lists the lease tables at the DynamoDB endpoint (tables whose hash key is the KCL's leaseKey),\n"+
		"with how many leases they hold, how many of those shards are finished and how many workers\n"+
		"hold leases.\n\n"+groupHelp)
	var gf groupCmdFlags
	gf.register(fs, env, false)
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	ddb, err := gf.dynamoDB(ctx)
	if err != nil {
		return err
	}
	tables, err := leaseTables(ctx, ddb)
	if err != nil {
		return err
	}
	groups := []groupSummary{}
	for _, t := range tables {
		leases, err := consumer.NewDynamoDBLeaseStore(ddb, t).ListLeases(ctx)
		if err != nil {
			return err
		}
		s := groupSummary{Group: groupOfTable(t), LeaseTable: t, Leases: len(leases)}
		owners := map[string]bool{}
		for _, l := range leases {
			if l.Finished() {
				s.Finished++
			}
			if l.Owner != "" {
				owners[l.Owner] = true
			}
		}
		s.Workers = len(owners)
		groups = append(groups, s)
	}
	if *asJSON {
		return writeJSON(env.stdout, groups)
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tLEASE TABLE\tLEASES\tFINISHED\tWORKERS")
	for _, g := range groups {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\n", g.Group, g.LeaseTable, g.Leases, g.Finished, g.Workers)
	}
	return tw.Flush()
}

// leaseTables lists the tables in the KCL's lease table schema.
func leaseTables(ctx context.Context, api leaseTableAPI) ([]string, error) {
	var names []string
	in := &dynamodb.ListTablesInput{}
	for {
		out, err := api.ListTables(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list tables: %w", err)
		}
		names = append(names, out.TableNames...)
		if out.LastEvaluatedTableName == nil {
			break
		}
		in.ExclusiveStartTableName = out.LastEvaluatedTableName
	}
	var tables []string
	for _, n := range names {
		out, err := api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(n)})
		var notFound *ddbtypes.ResourceNotFoundException
		if errors.As(err, &notFound) {
			continue // deleted since listed
		}
		if err != nil {
			return nil, fmt.Errorf("describe table %s: %w", n, err)
		}
		if out.Table != nil && slices.ContainsFunc(out.Table.KeySchema, func(k ddbtypes.KeySchemaElement) bool {
			return k.KeyType == ddbtypes.KeyTypeHash && aws.ToString(k.AttributeName) == "leaseKey"
		}) {
			tables = append(tables, n)
		}
	}
	return tables, nil
}

// groupShard is one row of `group describe`.
type groupShard struct {
	ShardId    string `json:"ShardId"`
	State      string `json:"State,omitempty"` // open or closed; "" when no --stream was given, expired when no longer listed
	Owner      string `json:"Owner,omitempty"`
	Checkpoint string `json:"Checkpoint,omitempty"` // "" for a shard with no lease yet
	// LagMillis is how old the oldest unprocessed record is (0: caught
	// up); nil when unknown.
	LagMillis *int64 `json:"LagMillis,omitempty"`
	// OwnerSwitchesSinceCheckpoint hints at duplicates: leases that changed
	// hands without a checkpoint.
	OwnerSwitchesSinceCheckpoint int64 `json:"OwnerSwitchesSinceCheckpoint,omitempty"`
}

func runGroupDescribe(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "group describe", "sluice group describe GROUP [--stream STREAM] [flags]\n\n"+
		"Shows the group's leases: each shard's owner and checkpoint and, with --stream, the shards\n"+
		"not leased yet and how far behind each is (the age of its oldest unprocessed record).\n\n"+groupHelp)
	var gf groupCmdFlags
	gf.register(fs, env, true)
	stream := fs.String("stream", "", "the `stream` the group reads, to show lag and shards without a lease")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError(fs, "group describe: want exactly one GROUP, got %d arguments", len(pos))
	}
	ddb, err := gf.dynamoDB(ctx)
	if err != nil {
		return err
	}
	leases, err := readGroup(ctx, ddb, gf.tableFor(pos[0]), pos[0])
	if err != nil {
		return err
	}
	var kc *kinesis.Client
	var shards []types.Shard
	if *stream != "" {
		if kc, err = gf.newClient(ctx); err != nil {
			return err
		}
		if shards, err = listShards(ctx, kc, *stream); err != nil {
			return err
		}
	}
	rows, err := describeGroup(ctx, kc, *stream, shards, leases, time.Now())
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(env.stdout, rows)
	}
	return writeGroup(env.stdout, rows)
}

// readGroup lists a group's leases, saying which table was missing.
func readGroup(ctx context.Context, ddb consumer.DynamoDBAPI, table, group string) ([]consumer.Lease, error) {
	leases, err := consumer.NewDynamoDBLeaseStore(ddb, table).ListLeases(ctx)
	var notFound *ddbtypes.ResourceNotFoundException
	if errors.As(err, &notFound) {
		return nil, fmt.Errorf("no consumer group %s: its lease table %s does not exist (see `sluice group list`)", group, table)
	}
	slices.SortFunc(leases, func(a, b consumer.Lease) int { return strings.Compare(a.Key, b.Key) })
	return leases, err
}

// describeGroup joins the leases with the stream's shards (none without
// --stream) and measures each shard's lag.
func describeGroup(ctx context.Context, api shardReadAPI, stream string, shards []types.Shard, leases []consumer.Lease, now time.Time) ([]groupShard, error) {
	byKey := map[string]consumer.Lease{}
	for _, l := range leases {
		byKey[l.Key] = l
	}
	listed := map[string]types.Shard{}
	var ids []string
	for _, s := range shards {
		id := aws.ToString(s.ShardId)
		listed[id] = s
		ids = append(ids, id)
	}
	for _, l := range leases {
		if _, ok := listed[l.Key]; !ok {
			ids = append(ids, l.Key)
		}
	}
	slices.Sort(ids)
	rows := []groupShard{}
	for _, id := range ids {
		row := groupShard{ShardId: id}
		s, isListed := listed[id]
		switch {
		case stream == "":
		case !isListed:
			row.State = "expired"
		case isOpen(s):
			row.State = "open"
		default:
			row.State = "closed"
		}
		l, leased := byKey[id]
		if leased {
			row.Owner, row.Checkpoint, row.OwnerSwitchesSinceCheckpoint = l.Owner, l.Checkpoint.String(), l.OwnerSwitchesSinceCheckpoint
		}
		if stream != "" && isListed && leased {
			lag, err := checkpointLag(ctx, api, stream, id, l.Checkpoint, now)
			if err != nil {
				return nil, err
			}
			row.LagMillis = lag
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// checkpointLag is the age of the first record after checkpoint cp in a
// shard, 0 when there is none; nil when cp does not say where the group
// stands (AT_TIMESTAMP, whose time only the workers know).
func checkpointLag(ctx context.Context, api shardReadAPI, stream, shardID string, cp consumer.ExtendedSequenceNumber, now time.Time) (*int64, error) {
	name, arn := streamRef(stream)
	in := &kinesis.GetShardIteratorInput{StreamName: name, StreamARN: arn, ShardId: aws.String(shardID)}
	switch cp.Sequence {
	case consumer.SentinelShardEnd, consumer.SentinelLatest:
		return aws.Int64(0), nil
	case consumer.SentinelAtTimestamp:
		return nil, nil
	case "", consumer.SentinelTrimHorizon:
		in.ShardIteratorType = types.ShardIteratorTypeTrimHorizon
	default:
		// A checkpoint inside an aggregate leaves the rest of it unprocessed.
		in.ShardIteratorType = types.ShardIteratorTypeAfterSequenceNumber
		if cp.SubSequence > 0 {
			in.ShardIteratorType = types.ShardIteratorTypeAtSequenceNumber
		}
		in.StartingSequenceNumber = aws.String(cp.Sequence)
	}
	it, err := api.GetShardIterator(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("get iterator at the checkpoint of %s: %w", shardID, err)
	}
	out, err := api.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator, Limit: aws.Int32(1)})
	if err != nil {
		return nil, fmt.Errorf("read %s after its checkpoint: %w", shardID, err)
	}
	if len(out.Records) == 0 || out.Records[0].ApproximateArrivalTimestamp == nil {
		return aws.Int64(0), nil
	}
	return aws.Int64(max(0, now.Sub(*out.Records[0].ApproximateArrivalTimestamp).Milliseconds())), nil
}

func writeGroup(w io.Writer, rows []groupShard) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SHARD\tSTATE\tOWNER\tCHECKPOINT\tLAG")
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	for _, r := range rows {
		lag := "-"
		if r.LagMillis != nil {
			lag = (time.Duration(*r.LagMillis) * time.Millisecond).String()
		}
		cp := r.Checkpoint
		if cp == "" {
			cp = "(no lease yet)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.ShardId, dash(r.State), dash(r.Owner), cp, lag)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write group: %w", err)
	}
	return nil
}

func runGroupReset(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "group reset", "sluice group reset GROUP --stream STREAM --to POSITION [flags]\n\n"+
		"Moves the checkpoints of the group's leases (all, or those of --shard) so that its workers\n"+
		"resume at POSITION: trim-horizon, latest, an RFC 3339 time or a duration ago such as 1h (the\n"+
		"first record at or after that time), or with one --shard a sequence number (the last record\n"+
		"processed: the workers resume after it). Refused while workers hold leases of the group,\n"+
		"unless --force, which takes the leases from them: they lose them and resume from the new\n"+
		"checkpoints. A shard with no record at or after the time is checkpointed LATEST if open\n"+
		"(records written before a worker starts on it are skipped) and at its end if closed.\n\n"+groupHelp)
	var gf groupCmdFlags
	gf.register(fs, env, true)
	stream := fs.String("stream", "", "the `stream` the group reads (required)")
	to := fs.String("to", "", "`position` to move the checkpoints to (required)")
	var only []string
	fs.Func("shard", "reset only this shard `id`; repeat for several", func(v string) error { only = append(only, v); return nil })
	force := fs.Bool("force", false, "reset even while workers hold leases, taking the leases from them")
	dryRun := fs.Bool("dry-run", false, "print the new checkpoints without writing them")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) != 1:
		return usageError(fs, "group reset: want exactly one GROUP, got %d arguments", len(pos))
	case *stream == "":
		return usageError(fs, "group reset: --stream is required")
	case *to == "":
		return usageError(fs, "group reset: --to is required")
	}
	target, err := parseResetPosition(*to, time.Now())
	if err != nil {
		return usageError(fs, "group reset: %v", err)
	}
	if target.sequence != "" && len(only) != 1 {
		return usageError(fs, "group reset: a sequence number needs exactly one --shard, the shard it belongs to")
	}
	ddb, err := gf.dynamoDB(ctx)
	if err != nil {
		return err
	}
	kc, err := gf.newClient(ctx)
	if err != nil {
		return err
	}
	table := gf.tableFor(pos[0])
	leases, err := readGroup(ctx, ddb, table, pos[0])
	if err != nil {
		return err
	}
	if len(leases) == 0 {
		return fmt.Errorf("group %s has no leases yet: its workers create them when they start", pos[0])
	}
	if holders := leaseHolders(leases); len(holders) > 0 && !*force && !*dryRun {
		return fmt.Errorf("workers hold leases of group %s (%s): stop them first, or pass --force to take the leases from them", pos[0], strings.Join(holders, ", "))
	}
	selected, err := selectLeases(leases, only)
	if err != nil {
		return err
	}
	shards, err := listShards(ctx, kc, *stream)
	if err != nil {
		return err
	}
	byID := map[string]types.Shard{}
	for _, s := range shards {
		byID[aws.ToString(s.ShardId)] = s
	}
	store := consumer.NewDynamoDBLeaseStore(ddb, table)
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SHARD\tOLD CHECKPOINT\tNEW CHECKPOINT")
	for _, l := range selected {
		s, ok := byID[l.Key]
		if !ok {
			fmt.Fprintf(tw, "%s\t%s\t(unchanged: the shard has expired)\n", l.Key, l.Checkpoint)
			continue
		}
		cp, err := resolveReset(ctx, kc, *stream, s, target)
		if err != nil {
			return err
		}
		if !*dryRun {
			if err := writeCheckpoint(ctx, store, l, cp); err != nil {
				return err
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", l.Key, l.Checkpoint, cp)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	if *dryRun {
		fmt.Fprintln(env.stderr, "dry run: nothing written")
	}
	return nil
}

// resetPosition is where `group reset --to` moves checkpoints.
type resetPosition struct {
	sentinel string    // TRIM_HORIZON or LATEST
	at       time.Time // the first record at or after it
	sequence string    // a checkpoint as given
}

func parseResetPosition(s string, now time.Time) (resetPosition, error) {
	if s != "" && strings.Trim(s, "0123456789") == "" {
		return resetPosition{sequence: s}, nil
	}
	start, err := parseStartPosition(s, now)
	if err != nil {
		return resetPosition{}, errors.New(strings.Replace(err.Error(), "--from must be", "--to must be a sequence number,", 1))
	}
	switch start.typ {
	case types.ShardIteratorTypeTrimHorizon:
		return resetPosition{sentinel: consumer.SentinelTrimHorizon}, nil
	case types.ShardIteratorTypeLatest:
		return resetPosition{sentinel: consumer.SentinelLatest}, nil
	}
	return resetPosition{at: start.at}, nil
}

// leaseHolders names the workers holding leases, with how many each holds.
func leaseHolders(leases []consumer.Lease) []string {
	count := map[string]int{}
	for _, l := range leases {
		if l.Owner != "" {
			count[l.Owner]++
		}
	}
	var out []string
	for o, n := range count {
		out = append(out, fmt.Sprintf("%s holds %s", o, plural(int64(n), "lease")))
	}
	slices.Sort(out)
	return out
}

func selectLeases(leases []consumer.Lease, only []string) ([]consumer.Lease, error) {
	if len(only) == 0 {
		return leases, nil
	}
	var out []consumer.Lease
	for _, id := range only {
		i := slices.IndexFunc(leases, func(l consumer.Lease) bool { return l.Key == id })
		if i < 0 {
			return nil, fmt.Errorf("the group has no lease for shard %s", id)
		}
		out = append(out, leases[i])
	}
	return out, nil
}

// writeCheckpoint stores cp in a lease and releases it. A worker that
// renewed the lease since it was read makes the write fail; it is read
// again and written, a few times.
func writeCheckpoint(ctx context.Context, store *consumer.DynamoDBLeaseStore, l consumer.Lease, cp consumer.ExtendedSequenceNumber) error {
	key := l.Key
	for attempt := 0; ; attempt++ {
		_, err := store.UpdateCheckpoint(ctx, l, cp, true)
		switch {
		case err == nil:
			return nil
		case !errors.Is(err, consumer.ErrLeaseConflict) || attempt == 4:
			return fmt.Errorf("reset %s: %w", key, err)
		}
		if l, err = store.GetLease(ctx, key); err != nil {
			return fmt.Errorf("reset %s: %w", key, err)
		}
	}
}

// resolveReset turns a reset position into the checkpoint of one shard.
// A checkpoint is the last record processed, so for a time it is the
// record just before the first one at or after that time.
func resolveReset(ctx context.Context, api shardReadAPI, stream string, s types.Shard, to resetPosition) (consumer.ExtendedSequenceNumber, error) {
	cp := func(seq string) consumer.ExtendedSequenceNumber {
		return consumer.ExtendedSequenceNumber{Sequence: seq}
	}
	switch {
	case to.sentinel != "":
		return cp(to.sentinel), nil
	case to.sequence != "":
		return cp(to.sequence), nil
	}
	id := aws.ToString(s.ShardId)
	first, err := firstRecord(ctx, api, stream, id, &kinesis.GetShardIteratorInput{ShardIteratorType: types.ShardIteratorTypeAtTimestamp, Timestamp: aws.Time(to.at)})
	if err != nil {
		return cp(""), err
	}
	if first == "" {
		if isOpen(s) {
			return cp(consumer.SentinelLatest), nil
		}
		// Read up to the end: the workers then go on to its children.
		return cp(aws.ToString(s.SequenceNumberRange.EndingSequenceNumber)), nil
	}
	oldest, err := firstRecord(ctx, api, stream, id, &kinesis.GetShardIteratorInput{ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	if err != nil {
		return cp(""), err
	}
	if oldest == first {
		return cp(consumer.SentinelTrimHorizon), nil
	}
	// Sequence numbers are decimal and grow, so first-1 lies between the
	// record before first and first itself. A server that takes it as a
	// starting point (Sluice does) resumes exactly at first.
	n, ok := new(big.Int).SetString(first, 10)
	if ok {
		before := n.Sub(n, big.NewInt(1)).String()
		name, arn := streamRef(stream)
		_, err := api.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: name, StreamARN: arn, ShardId: aws.String(id),
			ShardIteratorType: types.ShardIteratorTypeAtSequenceNumber, StartingSequenceNumber: aws.String(before)})
		if err == nil {
			return cp(before), nil
		}
	}
	// Otherwise find the record before first by reading from the oldest.
	prev, err := recordBefore(ctx, api, stream, id, first)
	return cp(prev), err
}

// firstRecord returns the sequence number of the first record at the
// iterator in (stream and shard filled in), "" if there is none.
func firstRecord(ctx context.Context, api shardReadAPI, stream, shardID string, in *kinesis.GetShardIteratorInput) (string, error) {
	in.StreamName, in.StreamARN = streamRef(stream)
	in.ShardId = aws.String(shardID)
	it, err := api.GetShardIterator(ctx, in)
	if err != nil {
		return "", fmt.Errorf("get %s iterator for %s: %w", in.ShardIteratorType, shardID, err)
	}
	iter := it.ShardIterator
	for iter != nil {
		out, err := api.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(1)})
		if err != nil {
			return "", fmt.Errorf("read %s: %w", shardID, err)
		}
		if len(out.Records) > 0 {
			return aws.ToString(out.Records[0].SequenceNumber), nil
		}
		if aws.ToInt64(out.MillisBehindLatest) == 0 {
			return "", nil // caught up: nothing there
		}
		iter = out.NextShardIterator // an empty page behind the tip: read on
	}
	return "", nil
}

// recordBefore reads a shard from its oldest record to find the one that
// precedes the record numbered seq.
func recordBefore(ctx context.Context, api shardReadAPI, stream, shardID, seq string) (string, error) {
	name, arn := streamRef(stream)
	it, err := api.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: name, StreamARN: arn, ShardId: aws.String(shardID),
		ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	if err != nil {
		return "", fmt.Errorf("get iterator for %s: %w", shardID, err)
	}
	target, _ := new(big.Int).SetString(seq, 10)
	prev := consumer.SentinelTrimHorizon
	for iter := it.ShardIterator; iter != nil; {
		out, err := api.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
		if err != nil {
			return "", fmt.Errorf("read %s: %w", shardID, err)
		}
		for _, r := range out.Records {
			n, _ := new(big.Int).SetString(aws.ToString(r.SequenceNumber), 10)
			if n == nil || target == nil || n.Cmp(target) >= 0 {
				return prev, nil
			}
			prev = aws.ToString(r.SequenceNumber)
		}
		if len(out.Records) == 0 && aws.ToInt64(out.MillisBehindLatest) == 0 {
			break
		}
		iter = out.NextShardIterator
	}
	return prev, nil
}
