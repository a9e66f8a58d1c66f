package esindex

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"github.com/tousu/tousu/internal/secret"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/sinks/caseindex"
	"github.com/tousu/tousu/sinks/caseindex/caseindextest"
)

// The tests in this file need no Elasticsearch: a fake node (an httptest
// server) answers the few requests Open and Upsert make. Like the real
// server it sends X-Elastic-Product; that the client refuses a server
// without it is tested too.

// bulkItem is one action of a bulk request the fake node received.
type bulkItem struct {
	ID          string
	Version     int64
	VersionType string
	Doc         map[string]any
}

// fakeNode is a programmable stand-in for an Elasticsearch node.
type fakeNode struct {
	t *testing.T
	// product is the X-Elastic-Product header it sends.
	product string
	// aliasTarget is the index the alias points at; "" for none.
	aliasTarget string
	// failSetup answers the template request with this status that many
	// times before it succeeds.
	failSetup      int
	failSetupTimes int
	// bulk answers a bulk request: the status of the whole request (0 for
	// 200) and, for 200, the status of each item.
	bulk func(call int, items []bulkItem) (int, []int)
	// beforeBulk, when set, runs for each bulk request before the node
	// takes its lock, so requests may wait in it side by side.
	beforeBulk func()
	// mappingStatus answers a mapping update that many times
	// (mappingStatusTimes) before it succeeds; 0 succeeds at once.
	mappingStatus      int
	mappingStatusTimes int
	// mappingUpdates are the paths and bodies of the mapping updates.
	mappingUpdates []mappingUpdate

	mu        sync.Mutex
	bulkCalls int
	received  [][]bulkItem
	queries   []string // query strings of bulk requests
}

func (f *fakeNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Elastic-Product", f.product)
	w.Header().Set("Content-Type", "application/json")
	if f.beforeBulk != nil && r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/_bulk") {
		f.beforeBulk()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	reply := func(status int, body string) {
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/":
		reply(200, `{"version":{"number":"8.99.0-fake"}}`)
	case r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/_index_template/"):
		if f.failSetupTimes > 0 {
			f.failSetupTimes--
			reply(f.failSetup, `{"error":{"type":"fake"},"status":503}`)
			return
		}
		reply(200, `{"acknowledged":true}`)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/_alias/"):
		alias := strings.TrimPrefix(r.URL.Path, "/_alias/")
		if f.aliasTarget == "" {
			reply(404, `{"error":"alias missing","status":404}`)
			return
		}
		reply(200, fmt.Sprintf(`{%q:{"aliases":{%q:{"is_write_index":true}}}}`, f.aliasTarget, alias))
	case r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/_mapping"):
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			f.t.Errorf("mapping update body: %v", err)
		}
		f.mappingUpdates = append(f.mappingUpdates, mappingUpdate{path: r.URL.Path, body: body})
		if f.mappingStatusTimes > 0 {
			f.mappingStatusTimes--
			reply(f.mappingStatus, fmt.Sprintf(`{"error":{"type":"illegal_argument_exception","reason":"mapper [status] cannot be changed from type [keyword] to [text]"},"status":%d}`, f.mappingStatus))
			return
		}
		reply(200, `{"acknowledged":true}`)
	case r.Method == http.MethodPut && !strings.Contains(r.URL.Path[1:], "/"):
		f.aliasTarget = r.URL.Path[1:]
		reply(200, `{"acknowledged":true}`)
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/_bulk"):
		items := parseBulk(f.t, r)
		f.bulkCalls++
		f.received = append(f.received, items)
		f.queries = append(f.queries, r.URL.RawQuery)
		status, statuses := f.bulk(f.bulkCalls, items)
		if status != 0 && status != 200 {
			reply(status, `{"error":{"type":"fake_failure","reason":"fake"},"status":`+fmt.Sprint(status)+`}`)
			return
		}
		var out []map[string]any
		for i, it := range items {
			res := map[string]any{"_id": it.ID, "status": statuses[i]}
			switch s := statuses[i]; {
			case s == 409:
				res["error"] = map[string]any{"type": "version_conflict_engine_exception", "reason": "stale"}
			case s == 400:
				res["error"] = map[string]any{"type": "document_parsing_exception", "reason": "failed to parse",
					"caused_by": map[string]any{"type": "illegal_argument_exception", "reason": "bad field"}}
			case s == 429:
				res["error"] = map[string]any{"type": "es_rejected_execution_exception", "reason": "queue full"}
			case s >= 500:
				res["error"] = map[string]any{"type": "unavailable_shards_exception", "reason": "primary not active"}
			}
			out = append(out, map[string]any{"index": res})
		}
		b, _ := json.Marshal(map[string]any{"took": 1, "errors": true, "items": out})
		reply(200, string(b))
	case strings.HasPrefix(r.URL.Path, "/_cluster/health"):
		reply(200, `{"status":"green"}`)
	default:
		f.t.Errorf("fake node: unexpected request %s %s", r.Method, r.URL)
		reply(400, `{"error":"unexpected"}`)
	}
}

// mappingUpdate is a mapping update the fake node received.
type mappingUpdate struct {
	path string
	body map[string]any
}

// parseBulk reads the NDJSON body of a bulk request.
func parseBulk(t *testing.T, r *http.Request) []bulkItem {
	var items []bulkItem
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var meta map[string]struct {
			ID          string `json:"_id"`
			Version     int64  `json:"version"`
			VersionType string `json:"version_type"`
		}
		if err := json.Unmarshal(sc.Bytes(), &meta); err != nil {
			t.Errorf("bulk meta line %q: %v", sc.Text(), err)
			return nil
		}
		if !sc.Scan() {
			t.Error("bulk body ends after a meta line")
			return nil
		}
		var doc map[string]any
		if err := json.Unmarshal(sc.Bytes(), &doc); err != nil {
			t.Errorf("bulk document %q: %v", sc.Text(), err)
		}
		m := meta["index"]
		items = append(items, bulkItem{ID: m.ID, Version: m.Version, VersionType: m.VersionType, Doc: doc})
	}
	return items
}

// allStatus answers every item of every bulk request with status.
func allStatus(status int) func(int, []bulkItem) (int, []int) {
	return func(_ int, items []bulkItem) (int, []int) {
		out := make([]int, len(items))
		for i := range out {
			out[i] = status
		}
		return 0, out
	}
}

// startFake starts a fake node and returns it with a configuration
// pointing at it.
func startFake(t *testing.T, f *fakeNode) Config {
	t.Helper()
	f.t = t
	if f.product == "" {
		f.product = "Elasticsearch"
	}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return provisioned(Config{
		URLs:           []string{srv.URL},
		IndexPrefix:    "unit",
		RetryBackoff:   time.Millisecond,
		RequestTimeout: 5 * time.Second,
	})
}

// provisioned returns cfg with its defaults, as Open expects it.
func provisioned(cfg Config) Config {
	cfg.Provision()
	return cfg
}

// openFake opens an index on the fake node, closed at the end of the test.
func openFake(t *testing.T, cfg Config, reg prometheus.Registerer) *Index {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	idx, err := Open(ctx, cfg, zaptest.NewLogger(t, zaptest.Level(zapcore.ErrorLevel)), reg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = idx.Close() })
	return idx
}

// TestUpsertOutcomes: a document is done when indexed or stale, rejected
// when malformed, and every other outcome, of the item or of the whole
// request, is sent again by Upsert alone (the client does not retry) until
// it is done or ctx ends. cancelAt cancels the context during that bulk
// request; a persistent failure then ends with ctx.Err() after exactly
// that many requests.
func TestUpsertOutcomes(t *testing.T) {
	tests := []struct {
		name      string
		bulk      func(int, []bulkItem) (int, []int)
		cancelAt  int   // 0: never
		wantErr   error // nil, caseindex.ErrInvalidCase or context.Canceled
		wantCalls int
	}{
		{"indexed", allStatus(201), 0, nil, 1},
		{"updated", allStatus(200), 0, nil, 1},
		{"stale revision is success", allStatus(409), 0, nil, 1},
		{"item 429 is retried", failFirst(1, allStatus(429)), 0, nil, 2},
		{"item 503 is retried", failFirst(2, allStatus(503)), 0, nil, 3},
		{"request 429 is retried", failFirst(1, requestStatus(429)), 0, nil, 2},
		{"request 503 is retried", failFirst(2, requestStatus(503)), 0, nil, 3},
		{"rejected document is an invalid case", allStatus(400), 0, caseindex.ErrInvalidCase, 1},
		{"persistent item 429 is retried until ctx ends", allStatus(429), 4, context.Canceled, 4},
		{"persistent request 429 is retried until ctx ends", requestStatus(429), 4, context.Canceled, 4},
		{"request 400 is not the case's fault", requestStatus(400), 4, context.Canceled, 4},
		{"request 401 is not the case's fault", requestStatus(401), 4, context.Canceled, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			f := &fakeNode{bulk: func(call int, items []bulkItem) (int, []int) {
				if call == tc.cancelAt {
					cancel()
				}
				return tc.bulk(call, items)
			}}
			idx := openFake(t, startFake(t, f), nil)
			err := idx.Upsert(ctx, []router.Case{caseindextest.NewCase(t, "c1")})
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("Upsert: %v", err)
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Fatalf("Upsert error = %v, want %v", err, tc.wantErr)
			case tc.wantErr != caseindex.ErrInvalidCase && errors.Is(err, caseindex.ErrInvalidCase):
				t.Fatalf("Upsert error = %v: the case is not at fault", err)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.bulkCalls != tc.wantCalls {
				t.Errorf("%d bulk requests, want %d", f.bulkCalls, tc.wantCalls)
			}
		})
	}
}

// failFirst answers the first n bulk requests with fail, then indexes
// every item.
func failFirst(n int, fail func(int, []bulkItem) (int, []int)) func(int, []bulkItem) (int, []int) {
	return func(call int, items []bulkItem) (int, []int) {
		if call <= n {
			return fail(call, items)
		}
		return allStatus(201)(call, items)
	}
}

// requestStatus answers every bulk request as a whole with status.
func requestStatus(status int) func(int, []bulkItem) (int, []int) {
	return func(int, []bulkItem) (int, []int) { return status, nil }
}

func TestUpsertRequest(t *testing.T) {
	f := &fakeNode{bulk: allStatus(201)}
	reg := prometheus.NewRegistry()
	idx := openFake(t, startFake(t, f), reg)
	shanghai := time.FixedZone("CST", 8*60*60)
	cases := []router.Case{
		caseindextest.NewCase(t, "a", func(c *router.Case) { c.Revision = 3; c.Description = "旧" }),
		caseindextest.NewCase(t, "b", func(c *router.Case) {
			c.Subject = "ＯＲＤ１２３ 投诉"
			c.Deadline = time.Date(2024, 5, 8, 17, 30, 0, 123456789, shanghai)
		}),
		caseindextest.NewCase(t, "a", func(c *router.Case) { c.Revision = 7; c.Description = "新" }),
		caseindextest.NewCase(t, "a", func(c *router.Case) { c.Revision = 5; c.Description = "中" }),
	}
	if err := idx.Upsert(context.Background(), cases); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var items []bulkItem
	for _, r := range f.received {
		items = append(items, r...)
	}
	for _, q := range f.queries {
		// No bulk request waits for a refresh: the indexer's batches run
		// in series, and each would idle for up to a refresh interval.
		if strings.Contains(q, "refresh") || !strings.Contains(q, "require_alias=true") {
			t.Errorf("bulk query %q: want require_alias=true and no refresh", q)
		}
	}
	byID := map[string]bulkItem{}
	for _, it := range items {
		if _, dup := byID[it.ID]; dup {
			t.Errorf("case %s sent twice in one Upsert", it.ID)
		}
		byID[it.ID] = it
	}
	a, b := byID["a"], byID["b"]
	if len(items) != 2 || a.Version != 7 || a.VersionType != "external_gte" || a.Doc["description"] != "新" {
		t.Errorf("items %+v: want a at revision 7 (external_gte) and b", items)
	}
	if b.Doc["subject"] != "ORD123 投诉" {
		t.Errorf("indexed subject %q, want full-width folded to ORD123 投诉", b.Doc["subject"])
	}
	if b.Doc["deadline"] != "2024-05-08T09:30:00.123Z" {
		t.Errorf("deadline %v, want UTC with milliseconds", b.Doc["deadline"])
	}
	if _, ok := a.Doc["deadline"]; ok {
		t.Error("a case without deadline has a deadline field")
	}
	stored, _ := json.Marshal(b.Doc["case"])
	var got router.Case
	if err := json.Unmarshal(stored, &got); err != nil || got.Subject != "ＯＲＤ１２３ 投诉" || !got.Deadline.Equal(cases[1].Deadline) {
		t.Errorf("stored case %s (%v): want the case as written", stored, err)
	}
	if n := counterValue(t, reg, "tousu_esindex_documents_total", "indexed"); n != 2 {
		t.Errorf("indexed documents metric %v, want 2", n)
	}
}

// counterValue reads the counter with the result label from reg.
func counterValue(t *testing.T, reg *prometheus.Registry, name, result string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// TestConcurrentUpsertsShareTheNode: concurrent upserts each send their
// own bulk request at once, up to Workers at the node, rather than
// queueing behind one another's flush.
func TestConcurrentUpsertsShareTheNode(t *testing.T) {
	const workers, upserts = 3, 5
	var (
		mu       sync.Mutex
		now      int
		most     int
		allThere = make(chan struct{})
		once     sync.Once
	)
	f := &fakeNode{bulk: allStatus(201), beforeBulk: func() {
		mu.Lock()
		now++
		most = max(most, now)
		if now == workers {
			once.Do(func() { close(allThere) })
		}
		mu.Unlock()
		// Hold each request until Workers are at the node together; the
		// timer only keeps a failing build from hanging.
		select {
		case <-allThere:
		case <-time.After(5 * time.Second):
		}
		mu.Lock()
		now--
		mu.Unlock()
	}}
	cfg := startFake(t, f)
	cfg.Workers = workers
	idx := openFake(t, cfg, nil)
	errs := make(chan error, upserts)
	for i := range upserts {
		go func() {
			id := fmt.Sprintf("TS20261207%04d", i)
			errs <- idx.Upsert(context.Background(), []router.Case{caseindextest.NewCase(t, id, func(c *router.Case) {
				c.Description = "12月7日宽带又断了，师傅说明天来，结果没来，电话1380013800也打不通"
			})})
		}()
	}
	for range upserts {
		if err := <-errs; err != nil {
			t.Fatalf("Upsert: %v", err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if most != workers {
		t.Errorf("at most %d bulk requests at the node at once, want workers = %d", most, workers)
	}
	if f.bulkCalls != upserts {
		t.Errorf("%d bulk requests, want one per upsert (%d)", f.bulkCalls, upserts)
	}
}

// TestSlowRequestHoldsBackNoOtherUpsert: while one upsert's bulk request
// is held at the node, another upsert is sent and returns.
func TestSlowRequestHoldsBackNoOtherUpsert(t *testing.T) {
	var calls atomic.Int32
	arrived, release := make(chan struct{}), make(chan struct{})
	f := &fakeNode{bulk: allStatus(201), beforeBulk: func() {
		if calls.Add(1) == 1 {
			close(arrived)
			<-release
		}
	}}
	cfg := startFake(t, f)
	cfg.RequestTimeout = time.Minute // the held request stays at the node
	idx := openFake(t, cfg, nil)
	slow := make(chan error, 1)
	go func() {
		slow <- idx.Upsert(context.Background(), []router.Case{caseindextest.NewCase(t, "TS202612070001", func(c *router.Case) {
			c.Description = "话费12.7号扣了两次，客服说3个工作日内退，到现在没退"
		})})
	}()
	<-arrived
	quick := make(chan error, 1)
	go func() {
		quick <- idx.Upsert(context.Background(), []router.Case{caseindextest.NewCase(t, "TS202612070002", func(c *router.Case) {
			c.Description = "快递延误一周，电话不接"
		})})
	}()
	var err error
	select {
	case err = <-quick:
	case <-time.After(10 * time.Second): // only keeps a failing build from hanging
		t.Error("the second Upsert waited for the first one's request")
		close(release)
		err = <-quick
	}
	if err != nil {
		t.Errorf("second Upsert: %v", err)
	}
	if !t.Failed() {
		close(release)
	}
	if err := <-slow; err != nil {
		t.Errorf("first Upsert: %v", err)
	}
}

// TestUpsertSplitsAtFlushBytes: an upsert larger than FlushBytes goes in
// several requests; each document's result is read from its own request.
func TestUpsertSplitsAtFlushBytes(t *testing.T) {
	tests := []struct {
		name       string
		flushBytes func(entry int) int // from the size of one action and document
		wantCalls  int
	}{
		{"one request", func(int) int { return 1 << 20 }, 1},
		{"one document a request", func(int) int { return 1 }, 3},
		{"two documents, then one", func(entry int) int { return entry * 5 / 2 }, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The node refuses the document of 李四 as malformed.
			f := &fakeNode{bulk: func(_ int, items []bulkItem) (int, []int) {
				out := make([]int, len(items))
				for i, it := range items {
					out[i] = 201
					if it.ID == "TS202612070002" {
						out[i] = 400
					}
				}
				return 0, out
			}}
			var cases []router.Case
			for i, name := range []string{"张三", "李四", "王五"} {
				cases = append(cases, caseindextest.NewCase(t, fmt.Sprintf("TS20261207%04d", i+1), func(c *router.Case) {
					c.Customer.Name = name
					c.Description = strings.Repeat("物业费多收了三个月，12/05去物业处问，说系统问题，至今未退。", 8)
				}))
			}
			doc, err := Document(cases[0], time.Now())
			if err != nil {
				t.Fatal(err)
			}
			cfg := startFake(t, f)
			cfg.FlushBytes = tc.flushBytes(len(doc) + 80)
			idx := openFake(t, cfg, nil)
			err = idx.Upsert(context.Background(), cases)
			if !errors.Is(err, caseindex.ErrInvalidCase) || !strings.Contains(err.Error(), "TS202612070002") ||
				strings.Contains(err.Error(), "TS202612070001") || strings.Contains(err.Error(), "TS202612070003") {
				t.Fatalf("Upsert: %v, want ErrInvalidCase naming TS202612070002 alone", err)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.bulkCalls != tc.wantCalls {
				t.Errorf("%d bulk requests, want %d", f.bulkCalls, tc.wantCalls)
			}
			var ids []string
			for _, r := range f.received {
				for _, it := range r {
					ids = append(ids, it.ID)
				}
			}
			slices.Sort(ids)
			if want := []string{"TS202612070001", "TS202612070002", "TS202612070003"}; !slices.Equal(ids, want) {
				t.Errorf("documents sent %v, want each once %v", ids, want)
			}
		})
	}
}

func TestUpsertRejectsBeforeSending(t *testing.T) {
	f := &fakeNode{bulk: allStatus(201)}
	idx := openFake(t, startFake(t, f), nil)
	for _, bad := range []router.Case{
		caseindextest.NewCase(t, ""),
		caseindextest.NewCase(t, "  "),
		caseindextest.NewCase(t, "neg", func(c *router.Case) { c.Revision = -1 }),
		caseindextest.NewCase(t, "year", func(c *router.Case) { c.ReceivedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }),
	} {
		err := idx.Upsert(context.Background(), []router.Case{caseindextest.NewCase(t, "ok"), bad})
		if !errors.Is(err, caseindex.ErrInvalidCase) {
			t.Errorf("Upsert with case %q: error = %v, want ErrInvalidCase", bad.ID, err)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.bulkCalls != 0 {
		t.Errorf("%d bulk requests, want none", f.bulkCalls)
	}
}

func TestUpsertCanceledWhileWaiting(t *testing.T) {
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	f := &fakeNode{bulk: func(_ int, items []bulkItem) (int, []int) {
		arrived <- struct{}{}
		<-release
		return allStatus(201)(0, items)
	}}
	idx := openFake(t, startFake(t, f), nil)
	defer close(release)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- idx.Upsert(ctx, []router.Case{caseindextest.NewCase(t, "slow")}) }()
	<-arrived // the bulk request is in flight: Upsert waits for its result
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Upsert canceled while waiting: error = %v, want context.Canceled", err)
	}
}

func TestOpenRefusesNonElasticsearch(t *testing.T) {
	f := &fakeNode{product: "NotElasticsearch", bulk: allStatus(201)}
	cfg := startFake(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	idx, err := Open(ctx, cfg, zaptest.NewLogger(t, zaptest.Level(zapcore.ErrorLevel)), nil)
	if err == nil {
		idx.Close()
		t.Fatal("Open succeeded against a server that is not Elasticsearch")
	}
	if !strings.Contains(err.Error(), "not Elasticsearch") {
		t.Errorf("error %q should say the server is not Elasticsearch", err)
	}
}

func TestOpenRetriesWhileUnavailable(t *testing.T) {
	f := &fakeNode{bulk: allStatus(201), failSetup: 503, failSetupTimes: 3}
	idx := openFake(t, startFake(t, f), nil)
	if idx.ServerVersion() != "8.99.0-fake" {
		t.Errorf("server version %q", idx.ServerVersion())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failSetupTimes != 0 {
		t.Errorf("%d failures left: Open did not retry through them", f.failSetupTimes)
	}
}

func TestOpenGivesUpWithContext(t *testing.T) {
	f := &fakeNode{bulk: allStatus(201), failSetup: 503, failSetupTimes: 1 << 30}
	cfg := startFake(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	idx, err := Open(ctx, cfg, zaptest.NewLogger(t, zaptest.Level(zapcore.ErrorLevel)), nil)
	if err == nil {
		idx.Close()
		t.Fatal("Open succeeded against a node that is never ready")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want one wrapping context.DeadlineExceeded", err)
	}
}

func TestOpenRetriesWhileUnreachable(t *testing.T) {
	// Nothing listens on port 1: Open keeps trying until ctx ends.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	cfg := provisioned(Config{URLs: []string{"http://127.0.0.1:1"}, RetryBackoff: 10 * time.Millisecond})
	idx, err := Open(ctx, cfg, zaptest.NewLogger(t, zaptest.Level(zapcore.ErrorLevel)), nil)
	if err == nil {
		idx.Close()
		t.Fatal("Open succeeded with nothing listening")
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "last error") {
		t.Errorf("error %v, want the deadline and the last connection error", err)
	}
}

func TestOpenRefusesOtherVersionFake(t *testing.T) {
	for _, other := range []int{MappingVersion - 1, MappingVersion + 1} {
		target := fmt.Sprintf("unit-v%d", other)
		f := &fakeNode{bulk: allStatus(201), aliasTarget: target}
		cfg := startFake(t, f)
		idx, err := Open(context.Background(), cfg, zaptest.NewLogger(t, zaptest.Level(zapcore.ErrorLevel)), nil)
		if err == nil {
			idx.Close()
		}
		if err == nil || !strings.Contains(err.Error(), target) || !strings.Contains(err.Error(), namesFor("unit").index) {
			t.Errorf("Open with the alias on %s: error = %v, want one naming %s and %s", target, err, target, namesFor("unit").index)
		}
	}
}

// TestOpenUpdatesMapping: Open puts the current mappings, with every
// filter's field, on an existing index of the current version (so an index
// created before a field was added gains it), not on one it just created;
// a refusal says how to move on, a busy node is retried.
func TestOpenUpdatesMapping(t *testing.T) {
	current := namesFor("unit").index
	tests := []struct {
		name          string
		aliasTarget   string
		status, times int
		wantUpdates   int
		wantErr       string
	}{
		{"existing index", current, 0, 0, 1, ""},
		{"new index", "", 0, 0, 0, ""},
		{"busy node", current, http.StatusServiceUnavailable, 2, 3, ""},
		{"conflicting field", current, http.StatusBadRequest, 1, 1, "reindex"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeNode{bulk: allStatus(201), aliasTarget: tc.aliasTarget, mappingStatus: tc.status, mappingStatusTimes: tc.times}
			cfg := startFake(t, f)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			idx, err := Open(ctx, cfg, zaptest.NewLogger(t, zaptest.Level(zapcore.ErrorLevel)), nil)
			if err == nil {
				defer idx.Close()
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Open: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), current)):
				t.Fatalf("Open: error %v, want one naming %s and saying %q", err, current, tc.wantErr)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if len(f.mappingUpdates) != tc.wantUpdates {
				t.Fatalf("%d mapping updates, want %d", len(f.mappingUpdates), tc.wantUpdates)
			}
			for _, u := range f.mappingUpdates {
				props, _ := u.body["properties"].(map[string]any)
				if u.path != "/"+current+"/_mapping" || u.body["dynamic"] != "strict" {
					t.Errorf("mapping update %s %v", u.path, u.body)
				}
				for _, flt := range caseindex.Filters {
					if p := property(props, flt.IndexField()); p["type"] != "keyword" {
						t.Errorf("mapping update lacks the keyword field %s of filter %s: %v", flt.IndexField(), flt.Name, props)
					}
				}
				if got, want := must(json.Marshal(u.body)), must(json.Marshal(mappings())); string(got) != string(want) {
					t.Errorf("mapping update %s, want the template's mappings %s", got, want)
				}
			}
		})
	}
}

func TestMetricsRegistration(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := &fakeNode{bulk: allStatus(201)}
	cfg := startFake(t, f)
	idx := openFake(t, cfg, reg)
	if _, err := Open(context.Background(), cfg, zaptest.NewLogger(t, zaptest.Level(zapcore.ErrorLevel)), reg); err == nil {
		t.Error("a second Open with the same registry succeeded; its metrics would collide")
	}
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
	second := openFake(t, cfg, reg) // Close unregistered the first one's metrics
	_ = second
}

func TestClosed(t *testing.T) {
	f := &fakeNode{bulk: allStatus(201)}
	idx := openFake(t, startFake(t, f), nil)
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idx.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	ctx := context.Background()
	if err := idx.Upsert(ctx, []router.Case{caseindextest.NewCase(t, "x")}); !errors.Is(err, ErrClosed) {
		t.Errorf("Upsert after Close: %v", err)
	}
	if _, err := idx.Get(ctx, "x"); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close: %v", err)
	}
	if _, err := idx.Search(ctx, caseindex.Query{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Search after Close: %v", err)
	}
	if err := idx.Ping(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Ping after Close: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	if err := os.WriteFile(keyFile, []byte("c2VjcmV0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	zero, three, neg := 0, 3, -1
	ok := []string{"http://127.0.0.1:9200"}
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // "" for valid
	}{
		{"minimal", Config{URLs: ok}, ""},
		{"defaults", func() Config { c := DefaultConfig(); c.URLs = ok; return c }(), ""},
		{"several urls, api key file, ca", Config{URLs: []string{"https://es1:9200", "https://es2:9200/"}, APIKeyFile: keyFile, TLS: TLSConfig{CAFile: "/etc/ca.pem"}}, ""},
		{"basic auth", Config{URLs: ok, Username: "tousu", PasswordFile: "/run/secrets/es"}, ""},
		{"single node", Config{URLs: ok, Replicas: &zero, IndexPrefix: "my-cases"}, ""},
		{"three replicas", Config{URLs: ok, Replicas: &three}, ""},
		{"no urls", Config{}, "at least one URL"},
		{"bad scheme", Config{URLs: []string{"ftp://x"}}, "scheme"},
		{"no host", Config{URLs: []string{"http://"}}, "no host"},
		{"credentials in url", Config{URLs: []string{"http://u:p@x:9200"}}, "credentials"},
		{"key and file", Config{URLs: ok, APIKey: secret.Inline("a"), APIKeyFile: keyFile}, "mutually exclusive"},
		{"password and file", Config{URLs: ok, Username: "u", Password: secret.Inline("p"), PasswordFile: "f"}, "mutually exclusive"},
		{"key and basic", Config{URLs: ok, APIKey: secret.Inline("a"), Username: "u", Password: secret.Inline("p")}, "not both"},
		{"user without password", Config{URLs: ok, Username: "u"}, "needs a password"},
		{"password without user", Config{URLs: ok, Password: secret.Inline("p")}, "without username"},
		{"upper-case prefix", Config{URLs: ok, IndexPrefix: "Cases"}, "index_prefix"},
		{"prefix starting with _", Config{URLs: ok, IndexPrefix: "_cases"}, "index_prefix"},
		{"prefix with star", Config{URLs: ok, IndexPrefix: "cases*"}, "index_prefix"},
		{"negative replicas", Config{URLs: ok, Replicas: &neg}, "number_of_replicas"},
		{"negative shards", Config{URLs: ok, Shards: -1}, "number_of_shards"},
		{"negative flush bytes", Config{URLs: ok, FlushBytes: -1}, "flush_bytes"},
		{"negative workers", Config{URLs: ok, Workers: -1}, "workers"},
		{"client certificate", Config{URLs: []string{"https://es.tousu.internal:9200"}, APIKeyFile: keyFile,
			TLS: TLSConfig{CAFile: "/etc/tousu/es-ca.pem", CertFile: "/etc/tousu/es-client.pem", KeyFile: "/etc/tousu/es-client-key.pem", ServerName: "es.tousu.internal"}}, ""},
		{"certificate without key", Config{URLs: []string{"https://es1:9200"}, TLS: TLSConfig{CertFile: "/etc/tousu/es-client.pem"}}, "tls.cert_file: cert_file and key_file go together"},
		{"key without certificate", Config{URLs: []string{"https://es1:9200"}, TLS: TLSConfig{KeyFile: "/etc/tousu/es-client-key.pem"}}, "tls.cert_file: cert_file and key_file go together"},
		{"tls with http only", Config{URLs: ok, TLS: TLSConfig{CAFile: "/etc/tousu/es-ca.pem"}}, "tls: set, but no URL in urls is https"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("Validate error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestSecrets(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pw")
	if err := os.WriteFile(file, []byte("  s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		cfg     Config
		want    string
		wantErr string
	}{
		{"file", Config{PasswordFile: "pw"}, "s3cret", ""},
		{"inline", Config{Password: secret.Inline("inline")}, "inline", ""},
		{"empty file", Config{PasswordFile: empty}, "", "password_file: " + empty + " is empty"},
		{"missing file", Config{PasswordFile: filepath.Join(dir, "missing")}, "", "password_file: open " + filepath.Join(dir, "missing")},
	}
	for _, tt := range tests {
		cfg := provisioned(tt.cfg)
		err := cfg.ResolveSecrets(dir, nil)
		switch {
		case tt.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.wantErr)):
			t.Errorf("%s: err %v, want %q", tt.name, err, tt.wantErr)
		case tt.wantErr == "" && (err != nil || cfg.Password.Reveal() != tt.want):
			t.Errorf("%s: %q, %v, want %q", tt.name, cfg.Password.Reveal(), err, tt.want)
		}
	}
	_, err := Open(context.Background(), provisioned(Config{URLs: []string{"http://127.0.0.1:1"}, Username: "u", PasswordFile: filepath.Join(dir, "missing")}), nil, nil)
	if err == nil || !strings.Contains(err.Error(), "password_file") {
		t.Errorf("Open with a missing password file: %v", err)
	}
}

func TestSearchBody(t *testing.T) {
	base := caseindextest.Base
	tests := []struct {
		name string
		q    caseindex.Query
		want []string // substrings of the JSON body
		not  []string
	}{
		{"match all, newest first", caseindex.Query{},
			[]string{`"match_all":{}`, `"sort":[{"received_at":{"missing":"_last","order":"desc"}},{"id":{"order":"asc"}}]`, `"track_total_hits":true`, `"size":20`, `"from":0`},
			[]string{`"bool"`}},
		{"text is folded terms on both fields, the phrase boosted", caseindex.Query{Text: "ＯＲＤ１２ 信号差"},
			[]string{`{"combined_fields":{"fields":["subject","description"],"minimum_should_match":"-25%","operator":"or","query":"ORD12 信号差","zero_terms_query":"none"}}`,
				`"match_phrase":{"subject":{"boost":100,"query":"ORD12 信号差"`, `"match_phrase":{"description":{"boost":100,"query":"ORD12 信号差"`,
				`{"term":{"work_orders":"ＯＲＤ１２ 信号差"}}`, `{"_score":{"order":"desc"}}`},
			nil},
		{"quoted text is a folded phrase on both fields", caseindex.Query{Text: "“ＯＲＤ１２ 信号差”"},
			[]string{`"match_phrase":{"subject":{"boost":1,"query":"ORD12 信号差"`, `"match_phrase":{"description":{"boost":1,"query":"ORD12 信号差"`,
				`{"term":{"references":"ＯＲＤ１２ 信号差"}}`},
			[]string{`combined_fields`}},
		{"text without terms matches nothing", caseindex.Query{Text: `！"？"`},
			[]string{`"must":[{"match_none":{}}]`}, []string{`match_phrase`, `combined_fields`}},
		{"filters are terms", caseindex.Query{Filters: map[string]string{"channel": "email", "category": "billing", "status": "open", "reference": "TS1"}},
			[]string{`"filter":[{"term":{"channel":"email"}},{"term":{"category":"billing"}},{"term":{"status":"open"}},{"term":{"references":"TS1"}}]`},
			[]string{`"must"`}},
		{"policy filters are terms", caseindex.Query{Filters: map[string]string{"contact_type": "投诉", "grade": "重大", "validity": "invalid",
			"department": "网络部", "queue": "q1", "source": "acme", "pack": "telecom@1"}},
			[]string{`"filter":[{"term":{"source":"acme"}},{"term":{"contact_type":"投诉"}},{"term":{"grade":"重大"}},{"term":{"validity":"invalid"}},` +
				`{"term":{"department":"网络部"}},{"term":{"queue":"q1"}},{"term":{"pack":"telecom@1"}}]`},
			[]string{`"must"`, `"channel"}`}},
		{"deadline order, missing last", caseindex.Query{Sort: caseindex.SortDeadline, DueBefore: base.Add(time.Hour)},
			[]string{`"sort":[{"deadline":{"missing":"_last","order":"asc"}},{"received_at":{"missing":"_last","order":"desc"}},{"id":{"order":"asc"}}]`,
				fmt.Sprintf(`"deadline":{"format":"epoch_millis","lt":%d}`, base.Add(time.Hour).UnixMilli())},
			nil},
		{"received window", caseindex.Query{From: base, To: base.Add(time.Second), Sort: caseindex.SortOldest, Offset: 40, Limit: 10},
			[]string{fmt.Sprintf(`"received_at":{"format":"epoch_millis","gte":%d,"lt":%d}`, base.UnixMilli(), base.Add(time.Second).UnixMilli()),
				`"sort":[{"received_at":{"missing":"_last","order":"asc"}},{"id":{"order":"asc"}}]`, `"from":40`, `"size":10`},
			nil},
		{"every facet", caseindex.Query{},
			[]string{`"channel":{"terms":{"field":"channel","size":100}}`, `"category":{"terms":{"field":"category","size":100}}`, `"status":{"terms":{"field":"status","size":100}}`,
				`"source":{"terms":{"field":"source","size":100}}`, `"contact_type":{"terms":{"field":"contact_type","size":100}}`,
				`"grade":{"terms":{"field":"grade","size":100}}`, `"validity":{"terms":{"field":"validity","size":100}}`,
				`"department":{"terms":{"field":"department","size":100}}`, `"queue":{"terms":{"field":"queue","size":100}}`,
				`"pack":{"terms":{"field":"pack","size":100}}`},
			[]string{`"reference"`, `"references":{"terms"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q, err := tc.q.Normalize()
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(searchBody(q))
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !bytes.Contains(b, []byte(w)) {
					t.Errorf("body %s\nlacks %s", b, w)
				}
			}
			for _, w := range tc.not {
				if bytes.Contains(b, []byte(w)) {
					t.Errorf("body %s\nhas %s", b, w)
				}
			}
		})
	}
}

func TestMillisCeil(t *testing.T) {
	base := time.Date(2024, 5, 6, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		t    time.Time
		want int64
	}{
		{base, base.UnixMilli()},
		{base.Add(time.Nanosecond), base.UnixMilli() + 1},
		{base.Add(999 * time.Microsecond), base.UnixMilli() + 1},
		{base.Add(time.Millisecond), base.UnixMilli() + 1},
		{base.Add(-time.Nanosecond), base.UnixMilli()},
		{time.Date(1960, 1, 1, 0, 0, 0, 1, time.UTC), time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli() + 1},
	}
	for _, tc := range tests {
		if got := millisCeil(tc.t); got != tc.want {
			t.Errorf("millisCeil(%v) = %d, want %d", tc.t, got, tc.want)
		}
	}
}

func TestSearchResponse(t *testing.T) {
	c := caseindextest.NewCase(t, "r1")
	raw, _ := json.Marshal(c)
	body := `{"hits":{"total":{"value":7},"hits":[{"_id":"r1","_source":{"case":` + string(raw) + `}}]},` +
		`"aggregations":{"channel":{"buckets":[{"key":"webform","doc_count":7}]},"status":{"buckets":[]}}}`
	var sr searchResponse
	if err := json.Unmarshal([]byte(body), &sr); err != nil {
		t.Fatal(err)
	}
	res, err := sr.result()
	if err != nil {
		t.Fatal(err)
	}
	if res.Total != 7 || len(res.Hits) != 1 || res.Hits[0].ID != "r1" || res.Facets["channel"]["webform"] != 7 {
		t.Errorf("result %+v", res)
	}
	for _, f := range caseindex.FacetFields {
		if res.Facets[f] == nil {
			t.Errorf("facet %s missing", f)
		}
	}
	var broken searchResponse
	_ = json.Unmarshal([]byte(`{"hits":{"total":{"value":1},"hits":[{"_id":"x","_source":{}}]}}`), &broken)
	if _, err := broken.result(); err == nil {
		t.Error("a hit without a case decoded without error")
	}
}

func TestDurationSetting(t *testing.T) {
	for d, want := range map[time.Duration]string{time.Second: "1s", 30 * time.Second: "30s", 100 * time.Millisecond: "100ms", 1500 * time.Millisecond: "1500ms"} {
		if got := durationSetting(d); got != want {
			t.Errorf("durationSetting(%v) = %q, want %q", d, got, want)
		}
	}
}

// FuzzDocument checks that any case either fails to encode or becomes a
// document whose stored case decodes to the same JSON and whose text is
// folded.
func FuzzDocument(f *testing.F) {
	f.Add("c1", "宽带故障", "订单号ＯＲＤ６７８９０未发货", "billing", int64(3), int64(1715000000))
	f.Add("", "", "", "", int64(0), int64(0))
	f.Add("a/b?c", "\x00\xff", "<b>html</b>", "类", int64(-1), int64(-62135596800))
	f.Fuzz(func(t *testing.T, id, subject, description, category string, revision, unix int64) {
		c := router.Case{ID: id, Revision: revision, Subject: subject, Description: description, Category: category,
			ReceivedAt: time.Unix(unix, 0).UTC()}
		doc, err := document(c, nil, time.Now())
		if err != nil {
			return // e.g. a year outside 0..9999
		}
		var got struct {
			Case    json.RawMessage `json:"case"`
			Subject string          `json:"subject"`
		}
		if err := json.Unmarshal(doc, &got); err != nil {
			t.Fatalf("document is not JSON: %v\n%s", err, doc)
		}
		back, err := decodeCase(id, got.Case)
		if err != nil {
			t.Fatal(err)
		}
		// Compare with the case after one trip through JSON, which turns
		// invalid UTF-8 into U+FFFD.
		var trip router.Case
		raw, _ := json.Marshal(c)
		_ = json.Unmarshal(raw, &trip)
		wantCase, _ := json.Marshal(trip)
		have, _ := json.Marshal(back)
		if !bytes.Equal(wantCase, have) {
			t.Errorf("stored case %s, want %s", have, wantCase)
		}
		// Invalid UTF-8 becomes U+FFFD on the way through JSON.
		var want string
		b, _ := json.Marshal(foldText(subject))
		_ = json.Unmarshal(b, &want)
		if got.Subject != want {
			t.Errorf("indexed subject %q, want %q", got.Subject, want)
		}
	})
}

// FuzzSearchBody checks that every query that normalises builds a search
// body that encodes.
func FuzzSearchBody(f *testing.F) {
	f.Add("信号差", "webform", "open", "重大", "deadline", 0, 20, int64(0))
	f.Add("ＯＲＤ", "", "", "", "", 10, 200, int64(1715000000123))
	f.Add("", "", "closed", "\"}", "", 0, 0, int64(0))
	f.Fuzz(func(t *testing.T, text, channel, status, grade, sort string, offset, limit int, dueMillis int64) {
		q := caseindex.Query{Text: text, Sort: sort, Offset: offset, Limit: limit,
			Filters: map[string]string{"channel": channel, "status": status, "grade": grade}}
		if dueMillis != 0 {
			q.DueBefore = time.UnixMilli(dueMillis)
		}
		n, err := q.Normalize()
		if err != nil {
			return
		}
		if _, err := json.Marshal(searchBody(n)); err != nil {
			t.Fatalf("search body of %+v: %v", n, err)
		}
	})
}

// mappingV1Fields are the top-level fields of mapping version 1. Every one
// must stay in the current mapping with its type, so that a version 1
// document can be reindexed into the current version (dynamic is strict).
var mappingV1Fields = map[string]string{
	"id": "keyword", "revision": "long", "references": "keyword", "channel": "keyword", "source": "keyword",
	"category": "keyword", "status": "keyword", "subject": "text", "description": "text",
	"received_at": "date", "updated_at": "date", "deadline": "date", "customer": "", "case": "object",
}

func TestTemplateBody(t *testing.T) {
	replicas := 0
	n := namesFor("tousu-cases")
	body := templateBody(n, Config{Shards: 1, Replicas: &replicas, RefreshInterval: time.Second})
	mappings := body["template"].(map[string]any)["mappings"].(map[string]any)
	props := mappings["properties"].(map[string]any)
	typeOf := func(name string) string {
		p := property(props, name)
		if p == nil {
			return "(missing)"
		}
		typ, _ := p["type"].(string)
		return typ
	}
	// Ten fields besides the filters' own (those of the object customer
	// are in it; sla is the SLA facts): no filter takes the place of
	// another field.
	own := 0
	for _, f := range caseindex.Filters {
		if !strings.Contains(f.IndexField(), ".") {
			own++
		}
	}
	if len(props) != 10+own {
		t.Errorf("%d mapped fields for %d filters of their own: a filter's field is taken", len(props), own)
	}
	for _, field := range []string{"customer.key", "customer.phone", "customer.email", "customer.name", caseindex.SLAField} {
		if got := typeOf(field); got != "keyword" {
			t.Errorf("field %s has type %s, want keyword", field, got)
		}
	}
	for _, f := range caseindex.Filters {
		if got := typeOf(f.IndexField()); got != "keyword" {
			t.Errorf("filter %s: field %s has type %s, want keyword", f.Name, f.IndexField(), got)
		}
	}
	for name, typ := range mappingV1Fields {
		if got := typeOf(name); got != typ {
			t.Errorf("field %s of mapping version 1 has type %q now, want %q: old documents would not reindex", name, got, typ)
		}
	}
	if mappings["dynamic"] != "strict" || n.index != fmt.Sprintf("tousu-cases-v%d", MappingVersion) {
		t.Errorf("dynamic %v, index %s", mappings["dynamic"], n.index)
	}
}

func TestDocumentFields(t *testing.T) {
	c := caseindextest.NewCase(t, "d1", func(c *router.Case) {
		c.References = []string{"TS1", "", "TS2"}
		c.Source = "acme"
		c.Pack = "telecom@1"
		c.ContactType = "投诉"
		c.Grade = "重大"
		c.Validity = router.Validity{Reason: "超出时限"}
		c.Route = router.Route{Department: "网络部", Queue: "network-1", Owner: "agent7"}
		c.MessageIDs = []string{"m1@customer.example", "m2@colleague.example"}
	})
	raw, err := document(c, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"channel": "webform", "source": "acme", "category": "other", "status": "open",
		"references": []any{"TS1", "TS2"}, "contact_type": "投诉", "grade": "重大", "validity": "invalid",
		"department": "网络部", "queue": "network-1", "pack": "telecom@1",
		"message_ids": []any{"m1@customer.example", "m2@colleague.example"},
	}
	for name, w := range want {
		if got, _ := json.Marshal(doc[name]); string(got) != string(must(json.Marshal(w))) {
			t.Errorf("document field %s = %s, want %v", name, got, w)
		}
	}
	// Empty values are left out; the owner is no filter.
	raw, err = document(caseindextest.NewCase(t, "d2"), nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var bare map[string]any
	if err := json.Unmarshal(raw, &bare); err != nil {
		t.Fatal(err)
	}
	for _, absent := range []string{"source", "contact_type", "grade", "validity", "department", "queue", "pack", "owner", "route", "message_ids"} {
		if v, ok := bare[absent]; ok {
			t.Errorf("document of a case without %s has %s = %v", absent, absent, v)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestConfigValidateNamesTheKeyOnce(t *testing.T) {
	ok := []string{"http://127.0.0.1:9200"}
	neg := -1
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{}, "urls: at least one URL is required"},
		{Config{URLs: []string{"http://a:9200", "ftp://x"}}, `urls[1]: "ftp://x": scheme must be http or https`},
		{Config{URLs: ok, APIKey: secret.Inline("a"), APIKeyFile: "/k"}, "api_key: api_key and api_key_file are mutually exclusive"},
		{Config{URLs: ok, Username: "u"}, `username: "u" needs a password or password_file`},
		{Config{URLs: ok, Replicas: &neg}, "number_of_replicas: must be between 0 and 100, got -1"},
		{Config{URLs: ok, RetryBackoff: time.Hour}, "retry_backoff: must be between 1ms and 1m0s, got 1h0m0s"},
		{Config{URLs: ok, Workers: -1, FlushBytes: -1}, "flush_bytes: must not be negative, got -1\nworkers: must be between 1 and 64, got -1"},
	}
	for _, tt := range tests {
		if err := tt.cfg.Validate(); err == nil || err.Error() != tt.want {
			t.Errorf("Validate() = %v, want %q", err, tt.want)
		}
	}
}

// property returns the mapping of the field in properties, following a
// dotted field into its objects; nil when it is not mapped.
func property(properties map[string]any, field string) map[string]any {
	parent, name, ok := strings.Cut(field, ".")
	p, _ := properties[parent].(map[string]any)
	if !ok || p == nil {
		return p
	}
	sub, _ := p["properties"].(map[string]any)
	return property(sub, name)
}

// BenchmarkDocument is the encoding of a case into the document the
// indexer sends for it.
func BenchmarkDocument(b *testing.B) {
	c := caseindextest.NewCase(b, "TS20261204A7", func(c *router.Case) {
		c.Subject = "宽带断网"
		c.Description = "家里宽带从１２月３号开始天天断网，晚上七点到十点基本用不了，报修两次工单号GD20261203088，师傅说会上门，结果一直没人来。客服承诺48小时内回电，到现在都没有人联系我。"
		c.Deadline = caseindextest.Base.Add(72 * time.Hour)
		c.Deadlines = []router.Deadline{{Name: "reply", Title: "答复用户", Due: caseindextest.Base.Add(2 * time.Hour), Amount: 2, Unit: "hours"}, {Name: "resolve", Title: "办结", Due: c.Deadline, Amount: 3, Unit: "days"}}
	})
	now := caseindextest.Base.Add(time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := document(c, nil, now); err != nil {
			b.Fatal(err)
		}
	}
}
