package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicehq/sluice/producer"
	"github.com/sluicehq/sluice/sluicetest"
)

// The console's endpoints against a real in-process server, driven with
// aws-sdk-go-v2 as users' programs would.

type client struct {
	t    *testing.T
	base string
}

func (c client) get(path string, v any) int {
	c.t.Helper()
	res, err := http.Get(c.base + path)
	if err != nil {
		c.t.Fatalf("GET %s: %v", path, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			c.t.Fatalf("GET %s: %v: %s", path, err, body)
		}
	}
	return res.StatusCode
}

// post sends an action as the page does; header false leaves out the
// X-Sluice-Console header.
func (c client) post(path string, body any, header bool) (int, map[string]any) {
	c.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", c.base+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if header {
		req.Header.Set("X-Sluice-Console", "1")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("POST %s: %v", path, err)
	}
	defer res.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		c.t.Fatalf("POST %s: %v: %s", path, err, raw)
	}
	return res.StatusCode, out
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func start(t *testing.T) (*sluicetest.Server, client) {
	srv := sluicetest.Start(t)
	return srv, client{t: t, base: srv.Endpoint() + "/console/api/"}
}

func putRecords(t *testing.T, kc *kinesis.Client, stream string, n int, pk func(i int) string) []types.PutRecordsResultEntry {
	t.Helper()
	var entries []types.PutRecordsRequestEntry
	for i := range n {
		entries = append(entries, types.PutRecordsRequestEntry{PartitionKey: aws.String(pk(i)), Data: fmt.Appendf(nil, `{"n":%d,"msg":"hello %d"}`, i, i)})
	}
	out, err := kc.PutRecords(context.Background(), &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
	if err != nil || aws.ToInt32(out.FailedRecordCount) != 0 {
		t.Fatalf("put records: %v (%d failed)", err, aws.ToInt32(out.FailedRecordCount))
	}
	return out.Records
}

func TestConsole_PagesAndRouting(t *testing.T) {
	srv, _ := start(t)
	get := func(path, accept string) *http.Response {
		req, _ := http.NewRequest("GET", srv.Endpoint()+path, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	if res := get("/", "text/html,application/xhtml+xml"); res.StatusCode != http.StatusFound || res.Header.Get("Location") != "/console/" {
		t.Errorf("browser GET / = %d to %q, want a redirect to /console/", res.StatusCode, res.Header.Get("Location"))
	}
	if res := get("/", ""); res.StatusCode == http.StatusFound {
		t.Error("a non-browser GET / was redirected")
	}
	for _, p := range []string{"/console/", "/console/streams/x/data", "/console/applications", "/console/graph"} {
		res := get(p, "text/html")
		if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") || res.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("GET %s = %d %q", p, res.StatusCode, res.Header.Get("Content-Type"))
		}
	}
	if res := get("/console/assets/app.js", ""); res.StatusCode != 200 || res.Header.Get("ETag") == "" {
		t.Errorf("GET app.js = %d", res.StatusCode)
	}
	if res := get("/console/assets/nope.js", ""); res.StatusCode != 404 {
		t.Errorf("GET a missing asset = %d, want 404", res.StatusCode)
	}
	// The Kinesis API keeps working on any path, /console/ included.
	kc := srv.Kinesis()
	srv.CreateStream(context.Background(), "routed", 1)
	if _, err := kc.ListStreams(context.Background(), &kinesis.ListStreamsInput{}); err != nil {
		t.Fatalf("ListStreams: %v", err)
	}
	req, _ := http.NewRequest("POST", srv.Endpoint()+"/console/", strings.NewReader(`{}`))
	req.Header.Set("X-Amz-Target", "Kinesis_20131202.ListStreams")
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Date", time.Now().UTC().Format("20060102T150405Z"))
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=x/20250101/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=x")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), "routed") {
		t.Errorf("API call on /console/ = %d %s, want the ListStreams answer", res.StatusCode, body)
	}
}

func TestConsole_Overview(t *testing.T) {
	srv, c := start(t)
	ctx := context.Background()
	srv.CreateStream(ctx, "busy", 2)
	srv.CreateStream(ctx, "quiet", 1)
	kc := srv.Kinesis()
	// Rates appear once the sampler has seen the writes; keep writing
	// until it has.
	var ov struct {
		Server struct {
			Streams    int `json:"streams"`
			OpenShards int `json:"openShards"`
			Storage    struct {
				Embedded bool   `json:"embedded"`
				Bytes    uint64 `json:"bytes"`
			} `json:"storage"`
		} `json:"server"`
		Streams []struct {
			Name            string  `json:"name"`
			Status          string  `json:"status"`
			OpenShards      int     `json:"openShards"`
			IncomingRecords float64 `json:"incomingRecords"`
		} `json:"streams"`
	}
	eventually(t, "a write rate on the overview", func() bool {
		putRecords(t, kc, "busy", 50, func(i int) string { return fmt.Sprint("k", i) })
		c.get("overview", &ov)
		return len(ov.Streams) == 2 && ov.Streams[0].IncomingRecords > 0
	})
	if ov.Server.Streams != 2 || ov.Server.OpenShards != 3 || !ov.Server.Storage.Embedded || ov.Server.Storage.Bytes == 0 {
		t.Errorf("server = %+v", ov.Server)
	}
	if s := ov.Streams[1]; s.Name != "quiet" || s.Status != "ACTIVE" || s.OpenShards != 1 || s.IncomingRecords != 0 {
		t.Errorf("quiet = %+v", s)
	}
	var m struct {
		Times  []int64               `json:"t"`
		Series map[string][]*float64 `json:"series"`
	}
	c.get("streams/busy/metrics", &m)
	if len(m.Times) == 0 || len(m.Series["incomingRecords"]) != len(m.Times) {
		t.Fatalf("metrics: %d times, %d values", len(m.Times), len(m.Series["incomingRecords"]))
	}
	if code := c.get("streams/nope/metrics", &map[string]any{}); code != 400 {
		t.Errorf("metrics of a missing stream = %d, want 400", code)
	}
}

type page struct {
	Records []struct {
		Shard      string `json:"shard"`
		Seq        string `json:"seq"`
		Sub        int64  `json:"sub"`
		Aggregated bool   `json:"aggregated"`
		PK         string `json:"pk"`
		Data       []byte `json:"data"`
	} `json:"records"`
	Cursor   string `json:"cursor"`
	CaughtUp bool   `json:"caughtUp"`
	More     bool   `json:"more"`
}

func TestConsole_Records(t *testing.T) {
	srv, c := start(t)
	ctx := context.Background()
	srv.CreateStream(ctx, "s", 2)
	kc := srv.Kinesis()
	res := putRecords(t, kc, "s", 20, func(i int) string { return fmt.Sprint("user-", i) })

	var p page
	c.get("streams/s/records?type=TRIM_HORIZON&limit=100", &p)
	if len(p.Records) != 20 || !p.CaughtUp || p.Cursor == "" {
		t.Fatalf("from TRIM_HORIZON: %d records, caught up %v, cursor %q", len(p.Records), p.CaughtUp, p.Cursor)
	}
	// Following: nothing new, then the next records.
	var next page
	c.get("streams/s/records?cursor="+url.QueryEscape(p.Cursor), &next)
	if len(next.Records) != 0 {
		t.Fatalf("next page before new writes: %d records", len(next.Records))
	}
	putRecords(t, kc, "s", 3, func(i int) string { return fmt.Sprint("late-", i) })
	c.get("streams/s/records?cursor="+url.QueryEscape(next.Cursor), &next)
	if len(next.Records) != 3 || !strings.HasPrefix(next.Records[0].PK, "late-") {
		t.Fatalf("next page after 3 writes: %+v", next.Records)
	}
	// Filters: a partition key prefix and a text.
	c.get("streams/s/records?type=TRIM_HORIZON&pk=user-1*", &p)
	if len(p.Records) != 11 { // user-1, user-10..19
		t.Errorf("pk=user-1*: %d records, want 11", len(p.Records))
	}
	c.get("streams/s/records?type=TRIM_HORIZON&q=HELLO+7", &p)
	if len(p.Records) != 1 || p.Records[0].PK != "user-7" {
		t.Errorf("q=HELLO 7: %+v", p.Records)
	}
	// A sequence number names its shard.
	want := res[5]
	c.get("streams/s/records?type=AT_SEQUENCE_NUMBER&seq="+aws.ToString(want.SequenceNumber), &p)
	if len(p.Records) == 0 || p.Records[0].Seq != aws.ToString(want.SequenceNumber) || p.Records[0].Shard != aws.ToString(want.ShardId) {
		t.Errorf("AT_SEQUENCE_NUMBER: first %+v, want %s in %s", p.Records, aws.ToString(want.SequenceNumber), aws.ToString(want.ShardId))
	}
	var e map[string]string
	if code := c.get("streams/s/records?type=AT_SEQUENCE_NUMBER&seq=12", &e); code != 400 || e["__type"] != "InvalidArgumentException" {
		t.Errorf("a bad sequence number: %d %v", code, e)
	}
	if code := c.get("streams/s/records?cursor=garbage", &e); code != 400 || e["__type"] != "InvalidArgumentException" {
		t.Errorf("a bad cursor: %d %v", code, e)
	}
}

func TestConsole_RecordsAggregatedAndResharded(t *testing.T) {
	srv, c := start(t)
	ctx := context.Background()
	srv.CreateStream(ctx, "agg", 1)
	p, err := producer.NewFromConfig(srv.AWSConfig(), "agg", producer.WithAggregation(true), producer.WithLinger(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := p.PutAsync(ctx, fmt.Sprint("pk-", i), fmt.Appendf(nil, "user record %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	var pg page
	c.get("streams/agg/records?type=TRIM_HORIZON", &pg)
	if len(pg.Records) != 5 {
		t.Fatalf("%d records, want the 5 user records of the aggregate", len(pg.Records))
	}
	for i, r := range pg.Records {
		if !r.Aggregated || r.Sub != int64(i) || r.PK != fmt.Sprint("pk-", i) || string(r.Data) != fmt.Sprint("user record ", i) {
			t.Errorf("record %d = %+v", i, r)
		}
	}
	// Following all shards moves on to a split's children.
	if code, out := c.post("streams/agg/split", map[string]string{"shard": "shardId-000000000000"}, true); code != 200 {
		t.Fatalf("split: %d %v", code, out)
	}
	putRecords(t, srv.Kinesis(), "agg", 4, func(i int) string { return fmt.Sprint("after-", i) })
	got := 0
	cur := pg.Cursor
	eventually(t, "the records written after the split", func() bool {
		var n page
		c.get("streams/agg/records?cursor="+url.QueryEscape(cur), &n)
		got += len(n.Records)
		cur = n.Cursor
		return got == 4
	})
}

func TestConsole_Actions(t *testing.T) {
	srv, c := start(t)
	kc := srv.Kinesis()
	ctx := context.Background()
	if code, out := c.post("streams", map[string]any{"name": "made", "shards": 2}, false); code != 400 || out["__type"] != "AccessDeniedException" {
		t.Errorf("an action without the console header = %d %v", code, out)
	}
	if code, out := c.post("streams", map[string]any{"name": "bad name!", "shards": 2}, true); code != 400 || out["__type"] != "ValidationException" {
		t.Errorf("a bad name = %d %v", code, out)
	}
	if code, out := c.post("streams", map[string]any{"name": "made", "shards": 2, "bogus": 1}, true); code != 400 || out["__type"] != "SerializationException" {
		t.Errorf("an unknown field = %d %v", code, out)
	}
	if code, out := c.post("streams", map[string]any{"name": "made", "shards": 2}, true); code != 200 {
		t.Fatalf("create: %d %v", code, out)
	}
	if code, out := c.post("streams", map[string]any{"name": "made", "shards": 2}, true); code != 400 || out["__type"] != "ResourceInUseException" {
		t.Errorf("create again = %d %v", code, out)
	}
	d, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("made")})
	if err != nil || aws.ToInt32(d.StreamDescriptionSummary.OpenShardCount) != 2 {
		t.Fatalf("the created stream: %v %v", d, err)
	}
	if code, out := c.post("streams/made/records", map[string]string{"partitionKey": "k", "data": "hi"}, true); code != 200 || out["shardId"] == "" {
		t.Errorf("put: %d %v", code, out)
	}
	if code, out := c.post("streams/made/retention", map[string]int{"hours": 48}, true); code != 200 {
		t.Errorf("retention: %d %v", code, out)
	}
	if code, out := c.post("streams/made/tags", map[string]any{"add": map[string]string{"team": "data"}}, true); code != 200 {
		t.Errorf("tags: %d %v", code, out)
	}
	if code, out := c.post("streams/made/split", map[string]string{"shard": "shardId-000000000000"}, true); code != 200 {
		t.Errorf("split: %d %v", code, out)
	}
	if code, out := c.post("streams/made/merge", map[string]string{"shard": "shardId-000000000002", "adjacent": "shardId-000000000003"}, true); code != 200 {
		t.Errorf("merge: %d %v", code, out)
	}
	var st struct {
		RetentionHours int               `json:"retentionHours"`
		OpenShards     int               `json:"openShards"`
		Tags           map[string]string `json:"tags"`
		Shards         []struct {
			ID             string `json:"id"`
			Open           bool   `json:"open"`
			Parent         string `json:"parent"`
			AdjacentParent string `json:"adjacentParent"`
		} `json:"shards"`
	}
	c.get("streams/made", &st)
	if st.RetentionHours != 48 || st.Tags["team"] != "data" || st.OpenShards != 2 || len(st.Shards) != 5 {
		t.Fatalf("after the actions: %+v", st)
	}
	if last := st.Shards[4]; last.ID != "shardId-000000000004" || last.Parent != "shardId-000000000002" || last.AdjacentParent != "shardId-000000000003" {
		t.Errorf("merged child = %+v", last)
	}
	if code, out := c.post("streams/made/shard-count", map[string]int{"target": 99}, true); code != 400 || out["__type"] != "LimitExceededException" {
		t.Errorf("shard count past double = %d %v", code, out)
	}
	if code, out := c.post("streams/made/nonsense", map[string]int{}, true); code != 400 || out["__type"] != "UnknownOperationException" {
		t.Errorf("unknown action = %d %v", code, out)
	}
	if code, out := c.post("streams/made/delete", map[string]bool{"enforceConsumerDeletion": true}, true); code != 200 {
		t.Errorf("delete: %d %v", code, out)
	}
	if code := c.get("streams/made", &map[string]any{}); code != 400 {
		t.Errorf("describe after delete = %d, want 400", code)
	}
}

// TestConsole_Applications writes a lease table in the KCL's schema and a
// pipeline registration through the DynamoDB API, as a KCL application and
// a flow worker do, and reads them back with their lag.
func TestConsole_Applications(t *testing.T) {
	srv, c := start(t)
	ctx := context.Background()
	srv.CreateStream(ctx, "in", 1)
	srv.CreateStream(ctx, "out", 1)
	res := putRecords(t, srv.Kinesis(), "in", 10, func(i int) string { return "k" })
	ddb := dynamodb.NewFromConfig(srv.AWSConfig())
	mustTable := func(in *dynamodb.CreateTableInput) {
		if _, err := ddb.CreateTable(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	s := func(v string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: v} }
	n := func(v int64) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberN{Value: fmt.Sprint(v)} }
	mustTable(&dynamodb.CreateTableInput{
		TableName:            aws.String("reporter"),
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("leaseKey"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("leaseKey"), KeyType: ddbtypes.KeyTypeHash}},
		BillingMode:          ddbtypes.BillingModePayPerRequest,
	})
	// Checkpointed at the third record: seven behind.
	if _, err := ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("reporter"), Item: map[string]ddbtypes.AttributeValue{
		"leaseKey": s("shardId-000000000000"), "leaseOwner": s("worker-1"), "leaseCounter": n(5),
		"checkpoint": s(aws.ToString(res[2].SequenceNumber)), "checkpointSubSequenceNumber": n(0),
	}}); err != nil {
		t.Fatal(err)
	}
	mustTable(&dynamodb.CreateTableInput{
		TableName: aws.String("sluice_pipelines"),
		AttributeDefinitions: []ddbtypes.AttributeDefinition{
			{AttributeName: aws.String("pipeline"), AttributeType: ddbtypes.ScalarAttributeTypeS},
			{AttributeName: aws.String("worker"), AttributeType: ddbtypes.ScalarAttributeTypeS},
		},
		KeySchema: []ddbtypes.KeySchemaElement{
			{AttributeName: aws.String("pipeline"), KeyType: ddbtypes.KeyTypeHash},
			{AttributeName: aws.String("worker"), KeyType: ddbtypes.KeyTypeRange},
		},
		BillingMode: ddbtypes.BillingModePayPerRequest,
	})
	list := func(v ...string) ddbtypes.AttributeValue {
		var l []ddbtypes.AttributeValue
		for _, x := range v {
			l = append(l, s(x))
		}
		return &ddbtypes.AttributeValueMemberL{Value: l}
	}
	if _, err := ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("sluice_pipelines"), Item: map[string]ddbtypes.AttributeValue{
		"pipeline": s("page-views"), "worker": s("w1"), "sources": list("in"), "outputs": list("out"),
		"sinks": list("duckdb:/tmp/x.db#page_views"), "heartbeatMillis": n(time.Now().UnixMilli()),
		"recordsPerSecond": n(42), "lagMillis": n(1200),
	}}); err != nil {
		t.Fatal(err)
	}
	var apps struct {
		Applications []struct {
			Name       string   `json:"name"`
			Kind       string   `json:"kind"`
			State      string   `json:"state"`
			Streams    []string `json:"streams"`
			Outputs    []string `json:"outputs"`
			LagRecords int64    `json:"lagRecords"`
			LagExact   bool     `json:"lagExact"`
			LagMillis  int64    `json:"lagMillis"`
			Workers    []struct {
				ID string `json:"id"`
			} `json:"workers"`
		} `json:"applications"`
	}
	c.get("apps", &apps)
	if len(apps.Applications) != 2 {
		t.Fatalf("applications = %+v", apps.Applications)
	}
	pv, rep := apps.Applications[0], apps.Applications[1]
	if pv.Name != "page-views" || pv.Kind != "pipeline" || pv.Streams[0] != "in" || pv.Outputs[0] != "out" || pv.LagMillis != 1200 || pv.State != "ok" {
		t.Errorf("pipeline = %+v", pv)
	}
	if rep.Name != "reporter" || rep.Kind != "leases" || len(rep.Streams) != 1 || rep.Streams[0] != "in" ||
		rep.LagRecords != 7 || !rep.LagExact || len(rep.Workers) != 1 || rep.Workers[0].ID != "worker-1" {
		t.Errorf("lease table app = %+v", rep)
	}
	var g struct {
		Nodes []struct{ ID, Kind string } `json:"nodes"`
		Edges []struct {
			From, To string
			Rate     float64
		} `json:"edges"`
	}
	c.get("graph", &g)
	edges := map[string]float64{}
	for _, e := range g.Edges {
		edges[e.From+">"+e.To] = e.Rate
	}
	for _, want := range []string{"stream:in>pipeline:page-views", "pipeline:page-views>stream:out", "stream:in>leases:reporter", "pipeline:page-views>sink:duckdb:/tmp/x.db#page_views"} {
		if _, ok := edges[want]; !ok {
			t.Errorf("graph has no edge %s; edges %v", want, edges)
		}
	}
	if edges["stream:in>pipeline:page-views"] != 42 {
		t.Errorf("pipeline edge rate = %v, want 42", edges["stream:in>pipeline:page-views"])
	}
}
