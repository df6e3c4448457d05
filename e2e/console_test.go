package e2e

// The web console in a real headless Chromium (Debian's chromium, driven
// by chromedp) against a real `sluice serve`: each page is opened and
// used as a person would, and the assertions are on what the page shows.
// Records are written with aws-sdk-go-v2 meanwhile.
//
// Without chromium the tests skip, unless CI=true, where they fail.
// SLUICE_CONSOLE_SCREENSHOTS=DIR saves a screenshot of each page there
// (docs/ holds the ones the README shows).

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/chromedp/chromedp"
)

// chromiumPath finds Debian's chromium, or skips (fails under CI).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("SLUICE_CHROMIUM"), "chromium", "chromium-browser"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed; .ci/run installs Debian's chromium")
	}
	t.Skip("chromium is not installed (apt-get install chromium); skipping the browser tests")
	return ""
}

// newBrowser starts one headless Chromium for a test, with the flags this
// machine needs (no network of its own, no sandbox as root) and a fresh
// profile, and returns a context of its first tab.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		// Tabs other than the first are in the background: keep their
		// timers and animation frames running (the tail measurement
		// follows in ten of them).
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1440, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// waitJS waits until a JavaScript expression is truthy.
func waitJS(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(45*time.Second))
}

// textOf is the expression of an element's text ("" when absent).
func textOf(sel string) string {
	return fmt.Sprintf(`((document.querySelector(%q) || {}).textContent || "")`, sel)
}

func screenshot(ctx context.Context, t *testing.T, name string) {
	dir := os.Getenv("SLUICE_CONSOLE_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "console-"+name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// stepTimeout bounds one step of a browser test.
const stepTimeout = time.Minute

func run(t *testing.T, ctx context.Context, step string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	start := time.Now()
	defer func() { t.Logf("%s: %v", step, time.Since(start).Round(time.Millisecond)) }()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#content") ? document.querySelector("#content").innerText.slice(0, 2000) : ""`))
		t.Fatalf("%s: %v\npage text:\n%s", step, err, html)
	}
}

// clickJS clicks an element by script (for elements the viewport may not
// show).
func clickJS(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%q).click()`, sel))
}

// TestConsole walks through every page in one browser: create a stream
// in the UI, watch records written with the SDK arrive in the live tail
// and the charts, split a shard and see the lineage, see a consumer
// group's lag, see the graph, delete the stream.
func TestConsole(t *testing.T) {
	bctx := newBrowser(t)
	srv := startServer(t, "--console-sample-interval", "250ms")
	ctx, cancel := context.WithTimeout(bctx, 4*time.Minute)
	defer cancel()
	kc := srv.Client()
	base := srv.Endpoint
	const stream = "orders"

	// A browser opening the server's root lands on the console.
	run(t, ctx, "overview, empty",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS(`[data-test=no-streams]`)))
	url, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(url, "/console/") {
		t.Errorf("the browser is at %s, want /console/", url)
	}

	run(t, ctx, "create a stream",
		chromedp.Click(chromedp.CSS(`[data-test=create-stream]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-test=create-name]`)),
		chromedp.SendKeys(chromedp.CSS(`[data-test=create-name]`), stream),
		chromedp.SetValue(chromedp.CSS(`[data-test=create-shards]`), "2"),
		chromedp.Click(chromedp.CSS(`[data-test=dialog-confirm]`)),
		waitJS(textOf(`[data-test=stream-name]`)+`.startsWith("orders")`),
		waitJS(`!!document.querySelector('#st-status [data-status=ACTIVE]')`),
		waitJS(textOf(`[data-test=stream-open-shards]`)+` === "2 open shards"`))
	if _, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)}); err != nil {
		t.Fatalf("the stream created in the UI is not there: %v", err)
	}

	// Two more streams, made with the SDK, for company on the overview.
	for name, shards := range map[string]int32{"clicks": 1, "audit-log": 3} {
		if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(shards)}); err != nil {
			t.Fatal(err)
		}
	}

	// Live tail: follow, then write; the records appear.
	run(t, ctx, "follow live",
		chromedp.Click(chromedp.CSS(`a[data-tab=data]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-test=viewer-follow]`)),
		chromedp.Click(chromedp.CSS(`[data-test=viewer-follow]`)),
		waitJS(textOf(`[data-test=viewer-status]`)+`.includes("Following live")`))
	put := func(n int, prefix string) {
		t.Helper()
		var entries []types.PutRecordsRequestEntry
		for i := range n {
			entries = append(entries, types.PutRecordsRequestEntry{
				PartitionKey: aws.String(fmt.Sprintf("%s-%d", prefix, i)),
				Data:         fmt.Appendf(nil, `{"order":%d,"customer":"c-%d","total":%d.50}`, i, i%7, 10+i),
			})
		}
		out, err := kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
		if err != nil || aws.ToInt32(out.FailedRecordCount) != 0 {
			t.Fatalf("put: %v", err)
		}
	}
	put(25, "order")
	run(t, ctx, "the records in the live tail",
		waitJS(`document.querySelectorAll('#records-table tr.rec').length === 25`),
		waitJS(`!!document.querySelector('#records-table tr.rec[data-pk="order-24"]')`),
		waitJS(`[...document.querySelectorAll('[data-test=payload]')].some(e => e.textContent === '{"order":24,"customer":"c-3","total":34.5}')`))
	put(5, "late")
	run(t, ctx, "newer records on top",
		waitJS(`document.querySelectorAll('#records-table tr.rec').length === 30`),
		waitJS(`document.querySelector('#records-table tr.rec').dataset.pk.startsWith("late-")`),
		// A click opens a record: its payload as pretty JSON.
		clickJS(`#records-table tr.rec[data-pk="order-3"]`),
		waitJS(textOf(`[data-test=payload-full]`)+`.includes('"customer": "c-3"')`))
	screenshot(ctx, t, "data-viewer")

	// The charts: write for a while, the incoming-records chart shows it.
	var writing sync.WaitGroup
	stop := make(chan struct{})
	writing.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			var entries []types.PutRecordsRequestEntry
			for j := range 20 + 10*(i%5) {
				entries = append(entries, types.PutRecordsRequestEntry{PartitionKey: aws.String(fmt.Sprint("k", i, j)), Data: []byte(`{"bg":true}`)})
			}
			kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
		}
	})
	stopWriting := sync.OnceFunc(func() { close(stop); writing.Wait() })
	defer stopWriting()
	run(t, ctx, "the charts",
		chromedp.Click(chromedp.CSS(`a[data-tab=monitoring]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-chart=incomingRecords] canvas`)),
		waitJS(`Number((document.querySelector('[data-now=incomingRecords]') || {dataset: {}}).dataset.value) > 0`),
		waitJS(`Number((document.querySelector('[data-now=getRecords]') || {dataset: {}}).dataset.value) >= 0`))
	screenshot(ctx, t, "stream")

	// Overview: the stream with its write rate.
	run(t, ctx, "overview",
		chromedp.Click(chromedp.CSS(`.nav a[data-nav=overview]`)),
		waitJS(`!!document.querySelector('#streams-table tr[data-stream=orders]')`),
		waitJS(`document.querySelectorAll('#streams-table tbody tr').length === 3`))
	screenshot(ctx, t, "overview")
	stopWriting()
	run(t, ctx, "overview after writes",
		waitJS(`!!document.querySelector('#streams-table tr[data-stream=orders]')`),
		waitJS(textOf(`#streams-table tr[data-stream=orders] [data-test=open-shards]`)+` === "2"`))

	// Split a shard in the UI; the lineage shows the children.
	run(t, ctx, "split",
		chromedp.Navigate(base+"/console/streams/orders/shards"),
		waitJS(`!!document.querySelector('[data-test=lineage-empty]')`),
		clickJS(`[data-test="split-shardId-000000000000"]`),
		chromedp.WaitVisible(chromedp.CSS(`[data-test=split-key]`)),
		chromedp.Click(chromedp.CSS(`[data-test=dialog-confirm]`)),
		waitJS(`!!document.querySelector('[data-test=lineage] g[data-shard=shardId-000000000002]')`),
		waitJS(`!!document.querySelector('[data-test=lineage] g[data-shard=shardId-000000000003]')`),
		waitJS(`document.querySelector('[data-test=lineage] g[data-shard=shardId-000000000000]').classList.contains("closed")`),
		waitJS(`document.querySelectorAll('[data-test=lineage] path.edge[data-from=shardId-000000000000]').length === 2`),
		waitJS(textOf(`[data-test=stream-open-shards]`)+` === "3 open shards"`))
	screenshot(ctx, t, "shards")

	// A consumer group's lease table, in the KCL's schema, checkpointed
	// behind the newest records.
	lagged := writeLeaseTable(t, ctx, srv, kc, stream)
	run(t, ctx, "applications",
		chromedp.Click(chromedp.CSS(`.nav a[data-nav=applications]`)),
		waitJS(`!!document.querySelector('[data-app=reporting]')`),
		waitJS(textOf(`[data-app=reporting] tr[data-shard=shardId-000000000001] [data-test=lag-records]`)+` === "`+fmt.Sprint(lagged)+`"`),
		waitJS(textOf(`[data-app=reporting] .meta`)+`.includes("reads orders")`))
	screenshot(ctx, t, "applications")

	run(t, ctx, "graph",
		chromedp.Click(chromedp.CSS(`.nav a[data-nav=graph]`)),
		waitJS(`!!document.querySelector('[data-test=graph] g[data-node="leases:reporting"]')`),
		waitJS(`!!document.querySelector('[data-test=graph] path.edge[data-from="stream:orders"][data-to="leases:reporting"]')`))
	screenshot(ctx, t, "graph")

	// Delete it in the UI, with the name typed to confirm.
	run(t, ctx, "delete: open the dialog",
		chromedp.Navigate(base+"/console/streams/orders/configuration"),
		chromedp.Click(chromedp.CSS(`[data-test=stream-actions]`)),
		chromedp.Click(chromedp.CSS(`[data-test=action-delete]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-test=delete-confirm]`)))
	run(t, ctx, "delete: confirm",
		waitJS(`document.querySelector('[data-test=dialog-confirm]').disabled`),
		chromedp.SendKeys(chromedp.CSS(`[data-test=delete-confirm]`), stream),
		waitJS(`!document.querySelector('[data-test=dialog-confirm]').disabled`),
		chromedp.Click(chromedp.CSS(`[data-test=dialog-confirm]`)))
	run(t, ctx, "delete: back on the overview",
		waitJS(`location.pathname === "/console/"`),
		waitJS(`document.querySelectorAll('#streams-table tbody tr').length === 2 && !document.querySelector('#streams-table tr[data-stream=orders]')`))
	eventuallyGone(t, ctx, kc, stream)
}

// writeLeaseTable creates a lease table as a KCL application would, with
// shard 1 checkpointed at one of its records, and returns how many
// records of shard 1 follow that checkpoint.
func writeLeaseTable(t *testing.T, ctx context.Context, srv *server, kc *kinesis.Client, stream string) int {
	t.Helper()
	ddb := srv.DynamoDB()
	if _, err := ddb.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String("reporting"),
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("leaseKey"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("leaseKey"), KeyType: ddbtypes.KeyTypeHash}},
		BillingMode:          ddbtypes.BillingModePayPerRequest,
	}); err != nil {
		t.Fatal(err)
	}
	// Checkpoint at a record of shard 1, then write 9 more there.
	d, err := kc.DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatal(err)
	}
	var key string
	for _, sh := range d.StreamDescription.Shards {
		if aws.ToString(sh.ShardId) == "shardId-000000000001" {
			key = aws.ToString(sh.HashKeyRange.StartingHashKey)
		}
	}
	out, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(stream), PartitionKey: aws.String("cp"), ExplicitHashKey: aws.String(key), Data: []byte("checkpoint here")})
	if err != nil {
		t.Fatal(err)
	}
	const behind = 9
	for i := range behind {
		if _, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(stream), PartitionKey: aws.String(fmt.Sprint("after-", i)), ExplicitHashKey: aws.String(key), Data: []byte("not processed yet")}); err != nil {
			t.Fatal(err)
		}
	}
	s := func(v string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: v} }
	n := func(v int64) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberN{Value: fmt.Sprint(v)} }
	for _, item := range []map[string]ddbtypes.AttributeValue{
		{"leaseKey": s("shardId-000000000001"), "leaseOwner": s("reporting-worker-a"), "leaseCounter": n(3), "checkpoint": s(aws.ToString(out.SequenceNumber))},
		{"leaseKey": s("shardId-000000000000"), "checkpoint": s("SHARD_END"), "leaseCounter": n(9)},
		{"leaseKey": s("shardId-000000000002"), "leaseOwner": s("reporting-worker-a"), "leaseCounter": n(1), "checkpoint": s("TRIM_HORIZON")},
		{"leaseKey": s("shardId-000000000003"), "leaseOwner": s("reporting-worker-b"), "leaseCounter": n(1), "checkpoint": s("TRIM_HORIZON")},
	} {
		if _, err := ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("reporting"), Item: item}); err != nil {
			t.Fatal(err)
		}
	}
	return behind
}

func eventuallyGone(t *testing.T, ctx context.Context, kc *kinesis.Client, stream string) {
	t.Helper()
	for {
		_, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
		if err != nil && strings.Contains(err.Error(), "ResourceNotFoundException") {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("stream %s still there after the UI deleted it: %v", stream, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}
