package esindex

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"github.com/tousu/tousu/internal/servertest"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/sinks/caseindex"
	"github.com/tousu/tousu/sinks/caseindex/caseindextest"
)

// The tests in this file run against a real Elasticsearch node named by
// TOUSU_TEST_ES (deploy/dev/services.sh starts one); each test gets its
// own index prefix and removes what it created.

// esURL returns TOUSU_TEST_ES, or skips the test (fails it with
// TOUSU_REQUIRE_SERVERS=1).
func esURL(tb testing.TB) string {
	tb.Helper()
	return strings.TrimRight(servertest.Require(tb, servertest.ES), "/")
}

// uniquePrefix returns an index prefix no other test uses.
func uniquePrefix(tb testing.TB) string {
	tb.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return "tousu-test-" + hex.EncodeToString(b)
}

// realConfig is the configuration of a test index on the node at url.
func realConfig(url, prefix string) Config {
	replicas := 0 // a single node never assigns replicas
	return provisioned(Config{
		URLs:            []string{url},
		IndexPrefix:     prefix,
		Replicas:        &replicas,
		RefreshInterval: 100 * time.Millisecond,
	})
}

// openReal opens an index with cfg and closes it at the end of the test.
func openReal(tb testing.TB, cfg Config) *Index {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	idx, err := Open(ctx, cfg, zaptest.NewLogger(tb, zaptest.Level(zapcore.WarnLevel)), prometheus.NewRegistry())
	if err != nil {
		tb.Fatalf("Open(%s): %v", cfg.IndexPrefix, err)
	}
	tb.Cleanup(func() {
		if err := idx.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return idx
}

// removeAll deletes the test's index, alias and template at the end of the
// test, whatever state they are in. Registered before openReal, it runs
// after Close.
func removeAll(tb testing.TB, url, prefix string) {
	tb.Helper()
	tb.Cleanup(func() {
		n := namesFor(prefix)
		for _, path := range []string{"/" + n.index, "/" + prefix + "-v0", "/_index_template/" + n.template} {
			req, err := http.NewRequest(http.MethodDelete, url+path, nil)
			if err != nil {
				tb.Error(err)
				return
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				tb.Errorf("DELETE %s: %v", path, err)
				continue
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK && res.StatusCode != http.StatusNotFound {
				tb.Errorf("DELETE %s: status %d", path, res.StatusCode)
			}
		}
	})
}

// newRealIndex opens a fresh index with a unique prefix.
func newRealIndex(tb testing.TB) *Index {
	tb.Helper()
	url := esURL(tb)
	prefix := uniquePrefix(tb)
	removeAll(tb, url, prefix)
	return openReal(tb, realConfig(url, prefix))
}

var logVersion sync.Once

// refreshing is an Index whose Upsert refreshes after writing, so the
// contract suite, which searches right after each upsert, sees the cases.
type refreshing struct{ *Index }

func (r refreshing) Upsert(ctx context.Context, cases []router.Case) error {
	err := r.Index.Upsert(ctx, cases)
	if ctx.Err() != nil || errors.Is(err, ErrClosed) {
		return err
	}
	return errors.Join(err, refresh(ctx, r.Index))
}

// refresh makes every case written so far visible to searches now rather
// than at the index's next refresh.
func refresh(ctx context.Context, x *Index) error {
	_, err := x.do(ctx, "refresh "+x.names.alias, esapi.IndicesRefreshRequest{Index: []string{x.names.alias}})
	return err
}

func TestContract(t *testing.T) {
	url := esURL(t)
	caseindextest.Run(t, func(tb testing.TB) caseindex.Index {
		idx := newRealIndex(tb)
		logVersion.Do(func() { t.Logf("contract suite against Elasticsearch %s at %s", idx.ServerVersion(), url) })
		return refreshing{idx}
	})
}

func TestRejectedDocumentIsInvalidCase(t *testing.T) {
	idx := newRealIndex(t)
	t.Logf("Elasticsearch %s", idx.ServerVersion())
	// A keyword longer than Lucene's term limit (32766 bytes): the node
	// refuses the document with 400, as it refuses any it cannot map.
	huge := caseindextest.NewCase(t, "huge", func(c *router.Case) { c.Category = strings.Repeat("类", 12000) })
	good := caseindextest.NewCase(t, "good")
	err := idx.Upsert(context.Background(), []router.Case{good, huge})
	if !errors.Is(err, caseindex.ErrInvalidCase) {
		t.Fatalf("Upsert with an unindexable case: error = %v, want ErrInvalidCase", err)
	}
	if !strings.Contains(err.Error(), "huge") {
		t.Errorf("error %q does not name the rejected case", err)
	}
	if _, err := idx.Get(context.Background(), "good"); err != nil {
		t.Errorf("Get(good) after the batch: %v; the valid case must be written", err)
	}
	if _, err := idx.Get(context.Background(), "huge"); !errors.Is(err, caseindex.ErrNotFound) {
		t.Errorf("Get(huge) error = %v, want ErrNotFound", err)
	}
}

func TestOddIDs(t *testing.T) {
	idx := newRealIndex(t)
	ids := []string{"a/b", "q?x=1", "frag#1", "with space", "百分%25", "投诉-001", "..", "_underscore"}
	var cases []router.Case
	for _, id := range ids {
		cases = append(cases, caseindextest.NewCase(t, id))
	}
	if err := idx.Upsert(context.Background(), cases); err != nil {
		t.Fatalf("Upsert: %v", err)
	}
	if err := refresh(context.Background(), idx); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		c, err := idx.Get(context.Background(), id)
		if err != nil || c.ID != id {
			t.Errorf("Get(%q) = %q, %v", id, c.ID, err)
		}
	}
	res, err := idx.Search(context.Background(), caseindex.Query{Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range res.Hits {
		got = append(got, c.ID)
	}
	slices.Sort(got)
	want := slices.Clone(ids)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("search finds %q, want %q", got, want)
	}
}

func TestOpenIsIdempotent(t *testing.T) {
	url := esURL(t)
	prefix := uniquePrefix(t)
	removeAll(t, url, prefix)
	first := openReal(t, realConfig(url, prefix))
	c := caseindextest.NewCase(t, "kept")
	if err := first.Upsert(context.Background(), []router.Case{c}); err != nil {
		t.Fatal(err)
	}
	// A second process (or a restart) opening the same prefix keeps the
	// index and its cases.
	second := openReal(t, realConfig(url, prefix))
	if got, err := second.Get(context.Background(), "kept"); err != nil || got.ID != "kept" {
		t.Fatalf("Get after a second Open: %+v, %v", got, err)
	}
	if want := fmt.Sprintf("%s-v%d", prefix, MappingVersion); first.IndexName() != want || first.Alias() != prefix {
		t.Errorf("names %s behind %s, want %s behind %s", first.IndexName(), first.Alias(), want, prefix)
	}
}

func TestOpenConcurrently(t *testing.T) {
	url := esURL(t)
	prefix := uniquePrefix(t)
	removeAll(t, url, prefix)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			idx, err := Open(ctx, realConfig(url, prefix), zaptest.NewLogger(t, zaptest.Level(zapcore.WarnLevel)), nil)
			if err == nil {
				err = idx.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open %d of %d concurrent: %v", i+1, len(errs), err)
		}
	}
}

func TestOpenRefusesOtherMappingVersion(t *testing.T) {
	url := esURL(t)
	prefix := uniquePrefix(t)
	removeAll(t, url, prefix)
	// An index of an older layout already holds the alias.
	req, err := http.NewRequest(http.MethodPut, url+"/"+prefix+"-v0",
		strings.NewReader(`{"settings":{"number_of_replicas":0},"aliases":{"`+prefix+`":{"is_write_index":true}}}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("create %s-v0: status %d: %s", prefix, res.StatusCode, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	idx, err := Open(ctx, realConfig(url, prefix), zaptest.NewLogger(t, zaptest.Level(zapcore.ErrorLevel)), nil)
	if err == nil {
		idx.Close()
		t.Fatal("Open succeeded although the alias points at another mapping version")
	}
	if !strings.Contains(err.Error(), prefix+"-v0") || !strings.Contains(err.Error(), "reindex") {
		t.Errorf("error %q should name the old index and say to reindex", err)
	}
}

// TestUpsertVisibleToGet: when Upsert returns, a Get sees the new
// revision at once (a real-time get, what the console's case page reads
// after an action) and a search sees it after a refresh; no sleeps, no
// retries.
func TestUpsertVisibleToGet(t *testing.T) {
	idx := newRealIndex(t)
	ctx := context.Background()
	for i, note := range []string{"已联系客户，约明天上门", "客户称12月3日已退款，未到账", "重复来电，催办"} {
		c := caseindextest.NewCase(t, "TS20241203-88", func(c *router.Case) {
			c.Revision = int64(i + 1)
			c.Description = fmt.Sprintf("第%d次处理：%s", i+1, note)
		})
		if err := idx.Upsert(ctx, []router.Case{c}); err != nil {
			t.Fatal(err)
		}
		got, err := idx.Get(ctx, c.ID)
		if err != nil || got.Revision != c.Revision || got.Description != c.Description {
			t.Fatalf("Get right after Upsert of revision %d: revision %d %q, %v", c.Revision, got.Revision, got.Description, err)
		}
	}
	if err := refresh(ctx, idx); err != nil {
		t.Fatal(err)
	}
	res, err := idx.Search(ctx, caseindex.Query{Text: "催办"})
	if err != nil || len(res.Hits) != 1 || res.Hits[0].Revision != 3 {
		t.Fatalf("search after Refresh: %+v, %v", res.Hits, err)
	}
}

// esDo sends a request with a JSON body (none when empty) to the node and
// returns the status and body.
func esDo(tb testing.TB, method, url, body string) (int, string) {
	tb.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		tb.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestUpgradeFromPreviousVersion follows README.md's procedure for a
// mapping change that adds derived fields: the new version refuses to start
// while the alias points at the previous index; once the alias is moved to
// the new index and the cases are replayed, the new filters work.
func TestUpgradeFromPreviousVersion(t *testing.T) {
	url := esURL(t)
	prefix := uniquePrefix(t)
	removeAll(t, url, prefix)
	previous := fmt.Sprintf("%s-v%d", prefix, MappingVersion-1)
	t.Cleanup(func() { esDo(t, http.MethodDelete, url+"/"+previous, "") })

	// The previous version's index holds the alias and a case, laid out
	// as mapping version 1 laid it out.
	props := map[string]any{}
	for name, typ := range mappingV1Fields {
		switch typ {
		case "":
			props[name] = map[string]any{"properties": map[string]any{"key": map[string]any{"type": "keyword"}}}
		case "object":
			props[name] = map[string]any{"type": "object", "enabled": false}
		default:
			props[name] = map[string]any{"type": typ}
		}
	}
	create, _ := json.Marshal(map[string]any{
		"settings": map[string]any{"number_of_replicas": 0},
		"mappings": map[string]any{"dynamic": "strict", "properties": props},
		"aliases":  map[string]any{prefix: map[string]any{"is_write_index": true}},
	})
	if code, body := esDo(t, http.MethodPut, url+"/"+previous, string(create)); code != http.StatusOK {
		t.Fatalf("create %s: %d %s", previous, code, body)
	}
	c := caseindextest.NewCase(t, "TS1", func(c *router.Case) {
		c.Pack = "telecom@1"
		c.Grade = "重大"
		c.Validity = router.Validity{Valid: true}
		c.Route = router.Route{Department: "网络部", Queue: "network-1"}
	})
	raw, _ := json.Marshal(c)
	v1doc := fmt.Sprintf(`{"id":"TS1","revision":1,"references":["TS1"],"channel":"webform","category":"other","status":"open",`+
		`"description":"测试投诉内容","received_at":"2024-05-06T09:00:00.000Z","case":%s}`, raw)
	if code, body := esDo(t, http.MethodPut, url+"/"+prefix+"/_doc/TS1?version=1&version_type=external_gte&refresh=true", v1doc); code != http.StatusCreated {
		t.Fatalf("write a version 1 document: %d %s", code, body)
	}

	// The new version refuses to start and says what to do.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	logger := zaptest.NewLogger(t, zaptest.Level(zapcore.ErrorLevel))
	idx, err := Open(ctx, realConfig(url, prefix), logger, nil)
	if err == nil {
		idx.Close()
		t.Fatal("Open succeeded while the alias points at the previous mapping version")
	}
	current := namesFor(prefix).index
	for _, want := range []string{previous, current, "reindex"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}

	// The operator creates the new index (the template the refused Open
	// put gives it its mapping) and moves the alias.
	if code, body := esDo(t, http.MethodPut, url+"/"+current, ""); code != http.StatusOK {
		t.Fatalf("create %s: %d %s", current, code, body)
	}
	move := fmt.Sprintf(`{"actions":[{"remove":{"index":%q,"alias":%q}},{"add":{"index":%q,"alias":%q,"is_write_index":true}}]}`,
		previous, prefix, current, prefix)
	if code, body := esDo(t, http.MethodPost, url+"/_aliases", move); code != http.StatusOK {
		t.Fatalf("move the alias: %d %s", code, body)
	}
	idx = openReal(t, realConfig(url, prefix))
	// Replaying the cases topic writes the same revision again, which
	// external_gte accepts, with the new fields.
	if err := (refreshing{idx}).Upsert(context.Background(), []router.Case{c}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []map[string]string{{"grade": "重大"}, {"validity": "valid"}, {"department": "网络部", "pack": "telecom@1"}} {
		res, err := idx.Search(context.Background(), caseindex.Query{Filters: q})
		if err != nil {
			t.Fatal(err)
		}
		if res.Total != 1 || res.Hits[0].ID != "TS1" {
			t.Errorf("Search(%v) after the upgrade: %d hits, want TS1", q, res.Total)
		}
	}
}

// TestAddFieldInPlace: an index created by the previous layouts of mapping
// version 2, before message_ids and then before the fields of the agents,
// the customer's name and the hotline (owner, assignee, customer.name,
// work_orders, business_type) existed, refuses documents with the new
// fields (dynamic is strict); Open of this version adds them to the index
// in place, so the index keeps its cases and the filters find cases
// written afterwards.
func TestAddFieldInPlace(t *testing.T) {
	url := esURL(t)
	prefix := uniquePrefix(t)
	removeAll(t, url, prefix)
	n := namesFor(prefix)

	// The index as the previous layout created it: today's mappings
	// without message_ids, behind the alias.
	before := mappings()
	props := before["properties"].(map[string]any)
	if _, ok := props["message_ids"]; !ok {
		t.Fatal("the current mappings have no message_ids: nothing to test")
	}
	added := []string{"message_ids", "owner", "assignee", "work_orders", "business_type"}
	for _, field := range added {
		delete(props, field)
	}
	delete(props["customer"].(map[string]any)["properties"].(map[string]any), "name")
	create, _ := json.Marshal(map[string]any{
		"settings": map[string]any{"number_of_replicas": 0},
		"mappings": before,
		"aliases":  map[string]any{prefix: map[string]any{"is_write_index": true}},
	})
	if code, body := esDo(t, http.MethodPut, url+"/"+n.index, string(create)); code != http.StatusOK {
		t.Fatalf("create %s: %d %s", n.index, code, body)
	}
	old := caseindextest.NewCase(t, "TSOLD", func(c *router.Case) {
		c.References = []string{"TSOLD", "TSOLD2"}
		c.Customer.Name = ""
	})
	doc, err := document(old, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if code, body := esDo(t, http.MethodPut, url+"/"+prefix+"/_doc/TSOLD?version=1&version_type=external_gte&refresh=true", string(doc)); code != http.StatusCreated {
		t.Fatalf("write a document of the previous layout: %d %s", code, body)
	}
	threaded := caseindextest.NewCase(t, "TSNEW", func(c *router.Case) {
		c.Channel = "email"
		c.MessageIDs = []string{"m1@customer.example", "reply@colleague.example"}
		c.Route.Owner = "张伟"
		c.Assignee = "王芳"
		c.Customer.Name = "王女士"
		c.WorkOrders = []string{"GD20240506000117"}
		c.BusinessType = "宽带故障"
	})
	doc, err = document(threaded, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if code, body := esDo(t, http.MethodPut, url+"/"+prefix+"/_doc/probe?refresh=true", string(doc)); code != http.StatusBadRequest || !strings.Contains(body, "strict_dynamic_mapping_exception") {
		t.Fatalf("the previous layout accepted message_ids (%d %s): the test does not recreate it", code, body)
	}

	idx := openReal(t, realConfig(url, prefix))
	if idx.IndexName() != n.index {
		t.Fatalf("Open uses %s, want the existing %s", idx.IndexName(), n.index)
	}
	for _, field := range append(added, "customer.name") {
		code, body := esDo(t, http.MethodGet, url+"/"+n.index+"/_mapping/field/"+field, "")
		if code != http.StatusOK || !strings.Contains(body, `"type":"keyword"`) {
			t.Fatalf("%s after Open: %d %s", field, code, body)
		}
	}
	code, body := esDo(t, http.MethodGet, url+"/_index_template/"+n.template, "")
	if code != http.StatusOK || !strings.Contains(body, `"message_ids"`) || !strings.Contains(body, `"work_orders"`) {
		t.Errorf("the template after Open lacks message_ids or work_orders: %d %s", code, body)
	}
	ctx := context.Background()
	if err := (refreshing{idx}).Upsert(ctx, []router.Case{threaded}); err != nil {
		t.Fatalf("Upsert of a case with Message-IDs after the update: %v", err)
	}
	// A second start finds the field there and changes nothing.
	again := openReal(t, realConfig(url, prefix))
	tests := []struct {
		filters map[string]string
		want    []string
	}{
		{map[string]string{"message_id": "reply@colleague.example"}, []string{"TSNEW"}},
		{map[string]string{"message_id": "m1@customer.example", "channel": "email"}, []string{"TSNEW"}},
		{map[string]string{"message_id": "m1@other.example"}, nil},
		{map[string]string{"owner": "张伟", "assignee": "王芳"}, []string{"TSNEW"}},
		{map[string]string{"customer": "王女士", "phone": "13800138000"}, []string{"TSNEW"}},
		{map[string]string{"phone": "13800138000"}, []string{"TSNEW", "TSOLD"}}, // customer.phone was there before
		{map[string]string{"work_order": "GD20240506000117", "business_type": "宽带故障"}, []string{"TSNEW"}},
		{map[string]string{"reference": "TSOLD2"}, []string{"TSOLD"}},
		{map[string]string{"status": "open"}, []string{"TSNEW", "TSOLD"}},
	}
	for _, x := range []*Index{idx, again} {
		for _, tc := range tests {
			res, err := x.Search(ctx, caseindex.Query{Filters: tc.filters, Sort: caseindex.SortOldest})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, h := range res.Hits {
				got = append(got, h.ID)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) || res.Total != len(tc.want) {
				t.Errorf("Search(%v) = %v (total %d), want %v", tc.filters, got, res.Total, tc.want)
			}
		}
	}
	if got, err := again.Get(ctx, "TSOLD"); err != nil || got.ID != "TSOLD" {
		t.Errorf("Get(TSOLD) after the update: %+v, %v", got, err)
	}
}
