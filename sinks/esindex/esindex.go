// Package esindex is the production case index: Elasticsearch through
// github.com/elastic/go-elasticsearch/v8, implementing caseindex.Index for
// the distributed mode.
//
// Layout. Open makes sure an index template (IndexPrefix-v<MappingVersion>),
// the versioned index it shapes and a write alias (IndexPrefix) pointing at
// it exist; every read and write goes through the alias. A new field is
// added to the existing index in place: Open puts the current mappings on
// it. Any other mapping change is a new MappingVersion: a new index next
// to the old one, a reindex and an alias switch (see "Real Kafka and
// Elasticsearch" in README.md), not an outage. Open refuses to run when
// the alias points at an index of another version.
//
// Text. Subject and description use the standard analyzer, which every
// node has, with full-width characters folded to ASCII in Go; a search
// text is read as caseindex (text.go) says: its quoted parts are phrase
// queries, the rest a combined_fields query over both fields with
// minimum_should_match -25%, the exact phrase of the rest boosted (see
// templateBody and textQuery).
//
// Writes. Upsert encodes its documents into bulk requests of its own (at
// most FlushBytes each, usually one) and sends them at once, without
// asking for a refresh; concurrent upserts send theirs side by side, up to
// Workers requests at the node, rather than queueing behind one another's
// flush of a shared bulk indexer. Upsert then reads the result of each of
// its documents. A document is done when the node indexed it or refused it
// as stale; it is rejected when the node refused it as malformed (400), and
// Upsert then returns an error wrapping caseindex.ErrInvalidCase after the
// others are done. So when Upsert returns nil each case is durable (the
// translog was synced before the bulk response,
// index.translog.durability=request) and the caller may commit its offset;
// Get sees it at once (a real-time get), Search after the index's next
// refresh, at most RefreshInterval later. No bulk request waits for a
// refresh (refresh=wait_for): that parked every batch for up to a refresh
// interval and, with the indexer's batches in series, held it to about a
// batch per half second whatever the node could take.
//
// Retries. Writes are retried in one place: Upsert. A document with any
// other outcome (the request failed, 429, 5xx, any other status) is sent
// again with backoff (RetryBackoff, doubling up to 32 times it) until it is
// done or rejected or ctx ends. Only Upsert sees an item refused with 429
// (es_rejected_execution_exception) inside a bulk answer of 200, so an HTTP
// retry could not be the one layer; and resending only the failed items
// keeps the batch together, whereas an error would make the bus consumer
// split its batch and write each case on its own, one request each,
// just when the node asks for less load. A resent document is harmless: its
// external version makes a replay rewrite the same revision or be refused
// as stale (see Versions). So the HTTP client does not retry at all, and
// the indexer's consumer sees no transient write error to redeliver. Open
// waits for the node the same way (until ctx ends, see Open); a read (Get,
// Search, Ping) is one attempt, and its caller decides whether to ask
// again.
//
// Versions. Each document carries its case's Revision as an external
// version (version_type=external_gte): Elasticsearch itself refuses a
// revision lower than the stored one, atomically, whichever process or
// bulk request sends it. That refusal (409) counts as success.
//
// The client checks that the server is Elasticsearch (the X-Elastic-Product
// header) on its first response; this package never works around that.
package esindex

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/tousu/tousu/internal/backoff"
	"github.com/tousu/tousu/internal/tlsfiles"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/sinks/caseindex"
)

// ErrClosed is returned by every method of an Index after Close.
var ErrClosed = errors.New("esindex: index is closed")

// Index is a caseindex.Index backed by Elasticsearch. It is safe for
// concurrent use; concurrent upserts send their own bulk requests, up to
// Config.Workers at the node at once.
type Index struct {
	cfg    Config
	names  names
	client *elasticsearch.Client
	// slots holds a token for each bulk request at the node (Workers).
	slots   chan struct{}
	logger  *zap.Logger
	metrics *metrics
	reg     prometheus.Registerer
	version string

	// mu guards closing against upserts in progress: Upsert holds it for
	// reading while its bulk requests are out, Close for writing.
	mu     sync.RWMutex
	closed atomic.Bool
}

var _ caseindex.Index = (*Index)(nil)

// Open connects to Elasticsearch, creates or checks the index template,
// the versioned index and its alias, adds the fields this version maps to
// an existing index. While
// the node cannot be reached or answers 429 or 5xx it retries with backoff
// until ctx ends; other failures (bad credentials, an alias pointing at
// another mapping version) return at once. The logger should carry a
// component field (nil discards logs); reg receives the metrics (nil
// registers none). cfg must be provisioned (Config.Provision); secrets
// not resolved yet are read now, relative to the working directory.
func Open(ctx context.Context, cfg Config, logger *zap.Logger, reg prometheus.Registerer) (*Index, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("esindex: %w", err)
	}
	if err := cfg.ResolveSecrets("", nil); err != nil {
		return nil, fmt.Errorf("esindex: %w", err)
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	client, err := newClient(cfg)
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	x := &Index{cfg: cfg, names: namesFor(cfg.IndexPrefix), client: client, slots: make(chan struct{}, cfg.Workers),
		logger: logger, metrics: m, reg: reg}
	fail := func(err error) (*Index, error) {
		m.unregister(reg)
		_ = client.Close(context.Background())
		return nil, err
	}

	for attempt := 1; ; attempt++ {
		err := x.setup(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return fail(fmt.Errorf("esindex: open: %w (last error: %v)", ctx.Err(), err))
		}
		if !isTransient(err) {
			return fail(err)
		}
		delay := x.backoff(attempt)
		logger.Warn("elasticsearch not ready, retrying", zap.Strings("urls", cfg.URLs), zap.Duration("backoff", delay), zap.Error(err))
		if !backoff.Sleep(ctx, delay) {
			return fail(fmt.Errorf("esindex: open: %w (last error: %v)", ctx.Err(), err))
		}
	}

	logger.Info("case index opened",
		zap.Strings("urls", cfg.URLs),
		zap.String("elasticsearch", x.version),
		zap.String("alias", x.names.alias),
		zap.String("index", x.names.index))
	return x, nil
}

// newClient builds the HTTP client from the configuration.
func newClient(cfg Config) (*elasticsearch.Client, error) {
	tc, err := tlsfiles.ClientConfig(cfg.TLS.CAFile, cfg.TLS.CertFile, cfg.TLS.KeyFile, cfg.TLS.ServerName)
	if err != nil {
		return nil, fmt.Errorf("esindex: tls.%w", err)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.ResponseHeaderTimeout = cfg.RequestTimeout
	transport.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	transport.MaxIdleConnsPerHost = 2 * cfg.Workers
	transport.TLSClientConfig = tc
	client, err := elasticsearch.NewClient(elasticsearch.Config{
		Addresses: cfg.URLs,
		Username:  cfg.Username,
		Password:  cfg.Password.Reveal(),
		APIKey:    cfg.APIKey.Reveal(),
		Transport: transport,
		// Upsert and Open retry; see the package doc, Retries.
		DisableRetry: true,
	})
	if err != nil {
		return nil, fmt.Errorf("esindex: client: %w", err)
	}
	return client, nil
}

// setup learns the server version and creates or checks the template, the
// index and the alias. It is idempotent and safe to run from several
// processes at once.
func (x *Index) setup(ctx context.Context) error {
	version, err := x.serverVersion(ctx)
	if err != nil {
		return err
	}
	x.version = version

	body, err := json.Marshal(templateBody(x.names, x.cfg))
	if err != nil {
		return fmt.Errorf("esindex: encode template: %w", err)
	}
	if _, err := x.do(ctx, "put index template "+x.names.template, esapi.IndicesPutIndexTemplateRequest{
		Name: x.names.template,
		Body: bytes.NewReader(body),
	}); err != nil {
		return err
	}

	current, err := x.aliasTarget(ctx)
	if err != nil {
		return err
	}
	switch current {
	case x.names.index:
		return x.updateMapping(ctx)
	case "":
	default:
		return fmt.Errorf("esindex: alias %s points at index %s, but this version of tousu writes %s (mapping version %d): "+
			"create %s, reindex into it and move the alias (see README.md, Real Kafka and Elasticsearch)",
			x.names.alias, current, x.names.index, MappingVersion, x.names.index)
	}

	// No alias yet: create the index with the alias in one step. The
	// template supplies settings and mappings.
	create := map[string]any{"aliases": map[string]any{x.names.alias: map[string]any{"is_write_index": true}}}
	body, _ = json.Marshal(create)
	res, err := esapi.IndicesCreateRequest{Index: x.names.index, Body: bytes.NewReader(body)}.Do(ctx, x.client)
	if err != nil {
		return requestError("create index "+x.names.index, err)
	}
	defer drain(res)
	if res.IsError() {
		raw, _ := io.ReadAll(io.LimitReader(res.Body, 1<<16))
		var e struct {
			Error struct {
				Type string `json:"type"`
			} `json:"error"`
		}
		_ = json.Unmarshal(raw, &e)
		if e.Error.Type != "resource_already_exists_exception" {
			err := fmt.Errorf("esindex: create index %s: status %d: %s", x.names.index, res.StatusCode, truncate(string(raw), 1000))
			if isRetryable(res.StatusCode) {
				return transient(err)
			}
			return err
		}
		// The index exists without the alias, or another process is
		// creating both right now: add the alias (idempotent).
		actions := map[string]any{"actions": []any{map[string]any{"add": map[string]any{
			"index": x.names.index, "alias": x.names.alias, "is_write_index": true,
		}}}}
		body, _ = json.Marshal(actions)
		if _, err := x.do(ctx, "add alias "+x.names.alias, esapi.IndicesUpdateAliasesRequest{Body: bytes.NewReader(body)}); err != nil {
			return err
		}
		if current, err := x.aliasTarget(ctx); err != nil {
			return err
		} else if current != x.names.index {
			return fmt.Errorf("esindex: alias %s points at %q after adding it, want %s", x.names.alias, current, x.names.index)
		}
		return x.updateMapping(ctx)
	}
	x.logger.Info("created case index", zap.String("index", x.names.index), zap.String("alias", x.names.alias))
	return nil
}

// updateMapping puts the current mappings on the existing versioned index,
// so that an index created before a field was added gains it (see
// MappingVersion). Fields it already has are left as they are; a field
// whose type differs is refused by the node, and so is the update.
func (x *Index) updateMapping(ctx context.Context) error {
	body, err := json.Marshal(mappings())
	if err != nil {
		return fmt.Errorf("esindex: encode mappings: %w", err)
	}
	status, err := x.do(ctx, "update the mappings of index "+x.names.index, esapi.IndicesPutMappingRequest{
		Index: []string{x.names.index},
		Body:  bytes.NewReader(body),
	})
	if status == http.StatusBadRequest {
		return fmt.Errorf("%w (the index has a mapping this version of tousu cannot extend in place: "+
			"create a new index, reindex into it and move the alias, see README.md, Real Kafka and Elasticsearch)", err)
	}
	return err
}

// aliasTarget returns the index the alias writes to, or "" when there is no
// such alias.
func (x *Index) aliasTarget(ctx context.Context) (string, error) {
	res, err := esapi.IndicesGetAliasRequest{Name: []string{x.names.alias}}.Do(ctx, x.client)
	if err != nil {
		return "", requestError("get alias "+x.names.alias, err)
	}
	defer drain(res)
	if res.StatusCode == http.StatusNotFound {
		return "", nil
	}
	if res.IsError() {
		return "", responseError("get alias "+x.names.alias, res)
	}
	var aliases map[string]struct {
		Aliases map[string]struct {
			IsWriteIndex *bool `json:"is_write_index"`
		} `json:"aliases"`
	}
	if err := json.NewDecoder(res.Body).Decode(&aliases); err != nil {
		return "", fmt.Errorf("esindex: decode alias %s: %w", x.names.alias, err)
	}
	var targets []string
	for index, a := range aliases {
		al, ok := a.Aliases[x.names.alias]
		if !ok {
			continue
		}
		if al.IsWriteIndex != nil && *al.IsWriteIndex {
			return index, nil
		}
		targets = append(targets, index)
	}
	switch len(targets) {
	case 0:
		return "", nil
	case 1:
		return targets[0], nil
	}
	return "", fmt.Errorf("esindex: alias %s points at several indices %v and none is its write index", x.names.alias, targets)
}

// serverVersion asks the node for its version: GET / where the node serves
// it, else the local node's info (a node without the rest-root module, as
// the test harness starts, has no GET /).
func (x *Index) serverVersion(ctx context.Context) (string, error) {
	res, err := esapi.InfoRequest{}.Do(ctx, x.client)
	if err != nil {
		return "", requestError("connect", err)
	}
	if !res.IsError() {
		defer drain(res)
		var info struct {
			Version struct {
				Number string `json:"number"`
			} `json:"version"`
		}
		if err := json.NewDecoder(res.Body).Decode(&info); err == nil && info.Version.Number != "" {
			return info.Version.Number, nil
		}
	} else {
		drain(res)
		if res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden || isRetryable(res.StatusCode) {
			return "", responseError("info", res)
		}
	}
	res, err = esapi.NodesInfoRequest{NodeID: []string{"_local"}, FilterPath: []string{"nodes.*.version"}}.Do(ctx, x.client)
	if err != nil {
		return "", requestError("connect", err)
	}
	defer drain(res)
	if res.IsError() {
		return "", responseError("nodes info", res)
	}
	var nodes struct {
		Nodes map[string]struct {
			Version string `json:"version"`
		} `json:"nodes"`
	}
	if err := json.NewDecoder(res.Body).Decode(&nodes); err != nil {
		return "", fmt.Errorf("esindex: decode nodes info: %w", err)
	}
	for _, n := range nodes.Nodes {
		return n.Version, nil
	}
	return "", errors.New("esindex: nodes info lists no node")
}

// ServerVersion is the version of the Elasticsearch node Open talked to.
func (x *Index) ServerVersion() string { return x.version }

// Alias is the name searches and writes go through.
func (x *Index) Alias() string { return x.names.alias }

// IndexName is the versioned index behind the alias.
func (x *Index) IndexName() string { return x.names.index }

// itemResult is the outcome of one document in a bulk request.
type itemResult struct {
	id     string
	status int    // 0 when the request itself failed
	reason string // the error, for failures
}

// Upsert writes the cases and returns once each is durable and visible to
// Get, or superseded by a higher stored revision; Search sees them after
// the next refresh (see the package doc, Writes). Among copies of one ID in the
// call the highest revision is sent. A case without ID, with a negative
// revision or that cannot be encoded fails the whole call with an error
// wrapping caseindex.ErrInvalidCase before anything is sent. A case the node
// rejects as malformed also gives an error wrapping ErrInvalidCase, after
// the other cases were written. Every other failure is retried with backoff
// until the case is written: only when ctx ends does Upsert return
// ctx.Err(), and cases of requests already sent may still be written.
func (x *Index) Upsert(ctx context.Context, cases []router.Case) error {
	if x.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(cases) == 0 {
		return nil
	}

	unique, err := caseindex.LatestByID(cases)
	if err != nil {
		return fmt.Errorf("esindex: %w", err)
	}
	order := make([]string, len(unique))
	latest := make(map[string]router.Case, len(unique))
	docs := make(map[string][]byte, len(unique))
	now := time.Now()
	for i, c := range unique {
		doc, err := document(c, x.cfg.Calendars, now)
		if err != nil {
			return fmt.Errorf("esindex: encode case %s: %v: %w", c.ID, err, caseindex.ErrInvalidCase)
		}
		order[i], latest[c.ID], docs[c.ID] = c.ID, c, doc
	}

	start := time.Now()
	defer func() { x.metrics.upsertSeconds.Observe(time.Since(start).Seconds()) }()

	pending := order
	var rejected []string
	var lastErr string
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			x.metrics.docs.WithLabelValues("retried").Add(float64(len(pending)))
			delay := x.backoff(attempt)
			x.logger.Warn("retrying cases", zap.Int("cases", len(pending)), zap.Int("attempt", attempt), zap.Duration("backoff", delay), zap.String("reason", lastErr))
			if !backoff.Sleep(ctx, delay) {
				return ctx.Err()
			}
		}
		results, err := x.send(ctx, pending, latest, docs)
		if err != nil {
			return err
		}
		var retry []string
		for _, r := range results {
			switch {
			case r.status >= 200 && r.status < 300:
				x.metrics.docs.WithLabelValues("indexed").Inc()
			case r.status == http.StatusConflict:
				x.metrics.docs.WithLabelValues("stale").Inc()
			case r.status == http.StatusBadRequest:
				x.metrics.docs.WithLabelValues("rejected").Inc()
				rejected = append(rejected, fmt.Sprintf("%s: %s", r.id, r.reason))
			default: // 0 (request failed), 429, 5xx, or another status
				retry = append(retry, r.id)
				lastErr = r.reason
				if r.status != 0 {
					lastErr = fmt.Sprintf("status %d: %s", r.status, r.reason)
				}
			}
		}
		if len(retry) == 0 {
			break
		}
		pending = retry
	}
	if len(rejected) > 0 {
		return fmt.Errorf("esindex: elasticsearch rejected %d of %d cases (%s): %w",
			len(rejected), len(order), strings.Join(rejected, "; "), caseindex.ErrInvalidCase)
	}
	return nil
}

// send writes the documents (see bodies) and returns the result of each.
// It returns an error only when the index is closed or ctx ended.
func (x *Index) send(ctx context.Context, ids []string, cases map[string]router.Case, docs map[string][]byte) ([]itemResult, error) {
	// Close waits for the requests in progress.
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.closed.Load() {
		return nil, ErrClosed
	}
	requests := x.bodies(ids, cases, docs)
	results := make([][]itemResult, len(requests))
	var wg sync.WaitGroup
	for i, r := range requests {
		wg.Go(func() { results[i] = x.bulkRequest(ctx, r) })
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]itemResult, 0, len(ids))
	for _, r := range results {
		out = append(out, r...)
	}
	return out, nil
}

// bulkBody is the NDJSON body of one bulk request and the ids of its
// documents, in order.
type bulkBody struct {
	ids  []string
	body []byte
}

// bodies encodes the documents into bulk request bodies of at most
// FlushBytes each (one document at least): each an index action with the
// case's revision as external version (version_type=external_gte, see the
// package doc, Versions) followed by the document.
func (x *Index) bodies(ids []string, cases map[string]router.Case, docs map[string][]byte) []bulkBody {
	var out []bulkBody
	var cur bulkBody
	for i, id := range ids {
		quoted, _ := json.Marshal(id) // a string: cannot fail
		action := `{"index":{"_id":` + string(quoted) + `,"version":` + strconv.FormatInt(cases[id].Revision, 10) +
			`,"version_type":"external_gte"}}` + "\n"
		size := len(action) + len(docs[id]) + 1
		if len(cur.ids) > 0 && len(cur.body)+size > x.cfg.FlushBytes {
			out = append(out, cur)
			cur = bulkBody{}
		}
		if cur.body == nil {
			cur.body = make([]byte, 0, min(x.cfg.FlushBytes, size*(len(ids)-i)))
		}
		cur.body = append(cur.body, action...)
		cur.body = append(cur.body, docs[id]...)
		cur.body = append(cur.body, '\n')
		cur.ids = append(cur.ids, id)
	}
	if len(cur.ids) > 0 {
		out = append(out, cur)
	}
	return out
}

// bulkFilter keeps of a bulk response what bulkRequest reads.
var bulkFilter = []string{"items.*._id", "items.*.status", "items.*.error.type", "items.*.error.reason",
	"items.*.error.caused_by.type", "items.*.error.caused_by.reason"}

// bulkRequest sends one bulk request once one of Workers slots is free
// and returns the result of each of its documents. A request that fails
// as a whole (no answer, or an error status) gives every document status
// 0: the request, not a case, is at fault, so Upsert sends them again.
func (x *Index) bulkRequest(ctx context.Context, b bulkBody) []itemResult {
	failAll := func(reason string) []itemResult {
		out := make([]itemResult, len(b.ids))
		for i, id := range b.ids {
			out[i] = itemResult{id: id, reason: reason}
		}
		return out
	}
	select {
	case x.slots <- struct{}{}:
	case <-ctx.Done():
		return failAll(ctx.Err().Error())
	}
	defer func() { <-x.slots }()

	start := time.Now()
	requireAlias := true // never auto-create an index named like the alias
	res, err := esapi.BulkRequest{
		Index:        x.names.alias,
		Body:         bytes.NewReader(b.body),
		RequireAlias: &requireAlias,
		FilterPath:   bulkFilter,
	}.Do(ctx, x.client)
	if err != nil {
		return failAll(requestError("bulk request", err).Error())
	}
	defer drain(res)
	if res.IsError() {
		return failAll(responseError("bulk request", res).Error())
	}
	var answer struct {
		Items []map[string]struct {
			ID     string `json:"_id"`
			Status int    `json:"status"`
			Error  struct {
				Type   string `json:"type"`
				Reason string `json:"reason"`
				Cause  struct {
					Type   string `json:"type"`
					Reason string `json:"reason"`
				} `json:"caused_by"`
			} `json:"error"`
		} `json:"items"`
	}
	err = json.NewDecoder(res.Body).Decode(&answer)
	x.metrics.bulkSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		return failAll(fmt.Sprintf("decode bulk response: %v", err))
	}
	got := make(map[string]itemResult, len(answer.Items))
	for _, item := range answer.Items {
		for _, r := range item {
			ir := itemResult{id: r.ID, status: r.Status}
			switch {
			case r.Error.Cause.Reason != "":
				ir.reason = fmt.Sprintf("%s: %s (%s: %s)", r.Error.Type, r.Error.Reason, r.Error.Cause.Type, r.Error.Cause.Reason)
			case r.Error.Type != "":
				ir.reason = fmt.Sprintf("%s: %s", r.Error.Type, r.Error.Reason)
			}
			got[r.ID] = ir
		}
	}
	out := make([]itemResult, len(b.ids))
	for i, id := range b.ids {
		r, ok := got[id]
		if !ok {
			r = itemResult{id: id, reason: "no result in bulk response"}
		}
		out[i] = r
	}
	return out
}

// Get returns the case with the id, or an error wrapping
// caseindex.ErrNotFound. Get is real-time: it sees every upsert that
// returned.
func (x *Index) Get(ctx context.Context, id string) (router.Case, error) {
	if x.closed.Load() {
		return router.Case{}, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return router.Case{}, err
	}
	if id == "" {
		return router.Case{}, fmt.Errorf("esindex: empty id: %w", caseindex.ErrNotFound)
	}
	res, err := esapi.GetRequest{
		Index: x.names.alias,
		// The client puts the id into the path as it is.
		DocumentID:     url.PathEscape(id),
		SourceIncludes: []string{"case"},
	}.Do(ctx, x.client)
	if err != nil {
		return router.Case{}, fmt.Errorf("esindex: get case %s: %w", id, err)
	}
	defer drain(res)
	var doc struct {
		ID     string `json:"_id"`
		Found  bool   `json:"found"`
		Source struct {
			Case json.RawMessage `json:"case"`
		} `json:"_source"`
		Error json.RawMessage `json:"error"`
	}
	if res.StatusCode == http.StatusNotFound {
		// A missing document is {"found":false}; a missing index is an
		// error object and means the index is broken, not the case absent.
		body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		if err := json.Unmarshal(body, &doc); err == nil && len(doc.Error) == 0 && !doc.Found {
			return router.Case{}, fmt.Errorf("esindex: case %s: %w", id, caseindex.ErrNotFound)
		}
		return router.Case{}, fmt.Errorf("esindex: get case %s: status 404: %s", id, truncate(string(body), 500))
	}
	if res.IsError() {
		return router.Case{}, responseError("get case "+id, res)
	}
	if err := json.NewDecoder(res.Body).Decode(&doc); err != nil {
		return router.Case{}, fmt.Errorf("esindex: decode case %s: %w", id, err)
	}
	if !doc.Found {
		return router.Case{}, fmt.Errorf("esindex: case %s: %w", id, caseindex.ErrNotFound)
	}
	return decodeCase(id, doc.Source.Case)
}

// Search returns one page of the cases matching q, with facet counts over
// all matches. An invalid q gives an error wrapping *caseindex.ParamError.
func (x *Index) Search(ctx context.Context, q caseindex.Query) (caseindex.Result, error) {
	if x.closed.Load() {
		return caseindex.Result{}, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return caseindex.Result{}, err
	}
	q, err := q.Normalize()
	if err != nil {
		return caseindex.Result{}, fmt.Errorf("esindex: %w", err)
	}
	body, err := json.Marshal(searchBody(q))
	if err != nil {
		return caseindex.Result{}, fmt.Errorf("esindex: encode search: %w", err)
	}
	res, err := esapi.SearchRequest{
		Index: []string{x.names.alias},
		Body:  bytes.NewReader(body),
	}.Do(ctx, x.client)
	if err != nil {
		return caseindex.Result{}, fmt.Errorf("esindex: search: %w", err)
	}
	defer drain(res)
	if res.IsError() {
		return caseindex.Result{}, responseError("search", res)
	}
	var sr searchResponse
	if err := json.NewDecoder(res.Body).Decode(&sr); err != nil {
		return caseindex.Result{}, fmt.Errorf("esindex: decode search response: %w", err)
	}
	return sr.result()
}

// SLACounts counts the SLA facts (caseindex.SLAField) of the cases matching
// q with one terms aggregation; no case is read.
func (x *Index) SLACounts(ctx context.Context, q caseindex.Query) (map[string]int, error) {
	if x.closed.Load() {
		return nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	q, err := q.Normalize()
	if err != nil {
		return nil, fmt.Errorf("esindex: %w", err)
	}
	body, err := json.Marshal(countBody(q))
	if err != nil {
		return nil, fmt.Errorf("esindex: encode SLA count: %w", err)
	}
	res, err := esapi.SearchRequest{Index: []string{x.names.alias}, Body: bytes.NewReader(body)}.Do(ctx, x.client)
	if err != nil {
		return nil, fmt.Errorf("esindex: count SLA facts: %w", err)
	}
	defer drain(res)
	if res.IsError() {
		return nil, responseError("count SLA facts", res)
	}
	var sr searchResponse
	if err := json.NewDecoder(res.Body).Decode(&sr); err != nil {
		return nil, fmt.Errorf("esindex: decode SLA count: %w", err)
	}
	counts := map[string]int{}
	for _, b := range sr.Aggregations[caseindex.SLAField].Buckets {
		counts[b.Key] = b.DocCount
	}
	return counts, nil
}

// Ping reports whether the node answers and the index is not red.
func (x *Index) Ping(ctx context.Context) error {
	if x.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	res, err := esapi.ClusterHealthRequest{Index: []string{x.names.alias}, Timeout: 5 * time.Second}.Do(ctx, x.client)
	if err != nil {
		return fmt.Errorf("esindex: ping: %w", err)
	}
	defer drain(res)
	if res.IsError() {
		return responseError("ping", res)
	}
	var health struct {
		Status string `json:"status"`
	}
	if err := json.NewDecoder(res.Body).Decode(&health); err != nil {
		return fmt.Errorf("esindex: decode cluster health: %w", err)
	}
	if health.Status == "red" {
		return fmt.Errorf("esindex: ping: index %s is red", x.names.alias)
	}
	return nil
}

// Close waits for the bulk requests in progress, closes the
// client and unregisters the metrics. Closing twice is not an error.
func (x *Index) Close() error {
	x.mu.Lock()
	if x.closed.Swap(true) {
		x.mu.Unlock()
		return nil
	}
	x.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), x.cfg.RequestTimeout+5*time.Second)
	defer cancel()
	var err error
	if cerr := x.client.Close(ctx); cerr != nil && !errors.Is(cerr, elasticsearch.ErrAlreadyClosed) {
		err = fmt.Errorf("esindex: close client: %w", cerr)
	}
	x.metrics.unregister(x.reg)
	x.logger.Info("case index closed", zap.String("alias", x.names.alias))
	return err
}

// do runs an API request whose response body nobody reads and returns
// its status.
func (x *Index) do(ctx context.Context, what string, req esapi.Request) (int, error) {
	res, err := req.Do(ctx, x.client)
	if err != nil {
		return 0, requestError(what, err)
	}
	defer drain(res)
	if res.IsError() {
		return res.StatusCode, responseError(what, res)
	}
	return res.StatusCode, nil
}

// backoff is the pause before the attempt-th retry: RetryBackoff doubled
// per attempt up to 32 times it, with ±25% jitter.
func (x *Index) backoff(attempt int) time.Duration {
	base := x.cfg.RetryBackoff
	d := backoff.Capped(base, 32*base, attempt)
	return backoff.Between(d-d/4, d-d/4+d/2)
}

// transientError marks an error worth retrying: the node was unreachable or
// busy.
type transientError struct{ err error }

func (e transientError) Error() string { return e.err.Error() }
func (e transientError) Unwrap() error { return e.err }

func transient(err error) error { return transientError{err} }

func isTransient(err error) bool {
	var t transientError
	return errors.As(err, &t)
}

// requestError describes a request that got no response. Network
// failures are transient; others, such as the client's refusal of a server
// that is not Elasticsearch, are not.
func requestError(what string, err error) error {
	var unknown x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	if errors.As(err, &unknown) || errors.As(err, &hostname) || errors.As(err, &invalid) || errors.As(err, &verify) {
		return fmt.Errorf("esindex: %s: TLS: the node's certificate is not trusted (tls.ca_file, tls.server_name): %w", what, err)
	}
	err = fmt.Errorf("esindex: %s: %w", what, err)
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) {
		return transient(err)
	}
	return err
}

func isRetryable(status int) bool {
	return status == http.StatusTooManyRequests || status >= 500
}

// responseError describes an error response; 429 and 5xx are transient.
func responseError(what string, res *esapi.Response) error {
	body, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	err := fmt.Errorf("esindex: %s: status %d: %s", what, res.StatusCode, truncate(strings.TrimSpace(string(body)), 1000))
	if res.StatusCode == http.StatusUnauthorized {
		err = fmt.Errorf("esindex: %s: the node refused the credentials (api_key, or username and password): status 401: %s", what, truncate(strings.TrimSpace(string(body)), 1000))
	}
	if isRetryable(res.StatusCode) {
		return transient(err)
	}
	return err
}

// drain reads the rest of the body and closes it, so the connection can
// be reused.
func drain(res *esapi.Response) {
	if res != nil && res.Body != nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<20))
		_ = res.Body.Close()
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// metrics are the Prometheus metrics of an Index.
type metrics struct {
	docs          *prometheus.CounterVec
	bulkSeconds   prometheus.Histogram
	upsertSeconds prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		docs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tousu_esindex_documents_total",
			Help: "Case documents sent to Elasticsearch by result: indexed, stale (a newer revision is stored), rejected (malformed), retried.",
		}, []string{"result"}),
		bulkSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tousu_esindex_bulk_request_seconds",
			Help:    "Duration of bulk requests to Elasticsearch.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}),
		upsertSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tousu_esindex_upsert_seconds",
			Help:    "Duration of Upsert calls until their cases were durable.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}),
	}
	if reg == nil {
		return m, nil
	}
	var done []prometheus.Collector
	for _, c := range []prometheus.Collector{m.docs, m.bulkSeconds, m.upsertSeconds} {
		if err := reg.Register(c); err != nil {
			for _, d := range done {
				reg.Unregister(d)
			}
			return nil, fmt.Errorf("esindex: register metrics: %w", err)
		}
		done = append(done, c)
	}
	return m, nil
}

// unregister removes the metrics again after a failed Open.
func (m *metrics) unregister(reg prometheus.Registerer) {
	if reg == nil {
		return
	}
	reg.Unregister(m.docs)
	reg.Unregister(m.bulkSeconds)
	reg.Unregister(m.upsertSeconds)
}
