package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tousu/tousu/internal/proctest"
	"github.com/tousu/tousu/internal/servertest"
	"github.com/tousu/tousu/internal/tlsfiles"
)

// The tests in this file run tousu's targets on the Kafka node of
// deploy/dev/services.sh and its secured Elasticsearch node, es-secure
// (HTTPS with a CA of its own, an API key), configured as an operator
// would: urls, api_key_file and tls.ca_file.

// secureESConfig writes dir/tousu.yaml for processes on Kafka and the
// secured node, in an index of the test's own (removed when the test
// ends), and returns its path.
func secureESConfig(tb testing.TB, dir, kafka string, node *servertest.SecureES) string {
	tb.Helper()
	prefix := fmt.Sprintf("tousu-secure-%d", time.Now().UnixNano())
	tb.Cleanup(func() { dropSecureIndex(tb, node, prefix) })
	cfg := fmt.Sprintf(`bus:
  brokers: [%s]
index:
  backend: elasticsearch
  elasticsearch:
    urls: [%s]
    api_key_file: %s
    tls:
      ca_file: %s
    index_prefix: %s
    number_of_replicas: 0
`, kafka, node.URL, node.APIKeyFile, node.CAFile, prefix)
	path := filepath.Join(dir, "tousu.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// dropSecureIndex removes the test's index and template from the secured
// node.
func dropSecureIndex(tb testing.TB, node *servertest.SecureES, prefix string) {
	tc, err := tlsfiles.ClientConfig(node.CAFile, "", "", "")
	if err != nil {
		tb.Logf("clean up %s: %v", prefix, err)
		return
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
	for _, path := range []string{"/" + prefix + "-v*", "/_index_template/" + prefix + "-v*"} {
		req, _ := http.NewRequest(http.MethodDelete, node.URL+path, nil)
		req.Header.Set("Authorization", "ApiKey "+node.APIKey(tb))
		resp, err := client.Do(req)
		if err != nil {
			tb.Logf("clean up %s: %v", path, err)
			continue
		}
		resp.Body.Close()
	}
}

// startOnSecureES runs the indexer in a process of its own and every other
// target of the pipeline in another (whose console the test asks, and
// whose lag view must see every group consume) on Kafka and the secured
// node, and returns both; the run's first complaint has become a case, so
// the pipeline runs.
func startOnSecureES(tb testing.TB, node *servertest.SecureES, tag string) (gateway, indexer *proc) {
	tb.Helper()
	kafka := servertest.Require(tb, servertest.Kafka)
	root := tb.TempDir()
	cfg := secureESConfig(tb, root, kafka, node)
	env := []string{"TOUSU_BOOTSTRAP_TOKEN=" + testToken, "TOUSU_SECRET=" + testSecret}
	gateway = startProc(tb, env, "-config", cfg, "-target", "gateway,normalizer,router,escalator,batcher,alerts,sender,console", "-data", filepath.Join(root, "gateway"))
	indexer = startProc(tb, env, "-config", cfg, "-target", "indexer", "-data", filepath.Join(root, "indexer"))
	gateway.submitFrom(tb, runPhones()(9999), tag+" 试运行：12月2日起4G信号时有时无，客服说已派单")
	gateway.waitFor(tb, tag, 1)
	return gateway, indexer
}

// checkNoAPIKey fails the test when a log shows the API key or its secret
// half.
func checkNoAPIKey(tb testing.TB, key string, logs ...string) {
	tb.Helper()
	raw, _ := base64.StdEncoding.DecodeString(key)
	_, half, _ := strings.Cut(string(raw), ":")
	for _, log := range logs {
		if strings.Contains(log, key) || half != "" && strings.Contains(log, half) {
			tb.Error("a log of tousu shows the Elasticsearch API key")
		}
	}
}

// TestSecuredElasticsearchProcess follows a complaint through the real
// binary to the secured node (the indexer writes it, the console finds it,
// both over TLS with the API key); then an indexer with a wrong key stops
// at once, saying the node refused the credentials, without the key.
func TestSecuredElasticsearchProcess(t *testing.T) {
	node := servertest.RequireSecureES(t)
	tag := "加密索引" + time.Now().Format("150405.000")
	gateway, indexer := startOnSecureES(t, node, tag)
	gateway.submitFrom(t, runPhones()(1), tag+" 12月5日交的宽带费没到账，营业厅说系统延迟，催了两次")
	gateway.waitFor(t, tag, 2)
	gateway.kill(t)
	indexer.kill(t)
	key := node.APIKey(t)
	checkNoAPIKey(t, key, gateway.stderr.String(), indexer.stderr.String())

	raw, _ := base64.StdEncoding.DecodeString(key)
	id, _, _ := strings.Cut(string(raw), ":")
	wrong := base64.StdEncoding.EncodeToString([]byte(id + ":不对的密钥-13800138000"))
	root := t.TempDir()
	cfg := secureESConfig(t, root, servertest.Require(t, servertest.Kafka), node)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tousuBinary(t), "serve", "-http", "127.0.0.1:0", "-config", cfg, "-target", "indexer", "-data", filepath.Join(root, "data"))
	cmd.Env = append(os.Environ(), "TOUSU_BOOTSTRAP_TOKEN="+testToken, "TOUSU_SECRET="+testSecret)
	if err := os.WriteFile(filepath.Join(root, "wrong-key"), []byte(wrong+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte(strings.Replace(mustRead(t, cfg), node.APIKeyFile, filepath.Join(root, "wrong-key"), 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := cmd.CombinedOutput()
	if err == nil || ctx.Err() != nil {
		t.Fatalf("the indexer with a wrong API key: %v (context %v)\n%s", err, ctx.Err(), out)
	}
	if !strings.Contains(string(out), "refused the credentials (api_key") {
		t.Errorf("the indexer with a wrong API key said:\n%s\nwant that the node refused the credentials", proctest.LogTail(string(out), 5))
	}
	checkNoAPIKey(t, wrong, string(out))
	checkNoAPIKey(t, key, string(out))
}

// mustRead returns the content of the file at path.
func mustRead(tb testing.TB, path string) string {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// TestElasticsearchStoppedUnderLoad stops the secured node for a minute
// under steady load: intake goes on (the index is not on its path), the
// indexer's lag grows on the ops API while it cannot write, and after the
// node is back it catches up: every receipt one case, none lost, none
// twice.
func TestElasticsearchStoppedUnderLoad(t *testing.T) {
	node := servertest.RequireSecureES(t)
	tag := "索引停机" + time.Now().Format("150405.000")
	gateway, _ := startOnSecureES(t, node, tag)
	const down = time.Minute
	l := startLoad(t, gateway, tag, down+25*time.Second)

	time.Sleep(6 * time.Second)
	l.mark("stop")
	before := indexerLag(t, gateway)
	node.Stop(t)
	l.mark("down")
	t.Logf("%5.1fs Elasticsearch stopped (indexer lag %d)", l.since(), before)
	var peak int64
	for time.Since(l.marks["down"]) < down {
		time.Sleep(5 * time.Second)
		lag := indexerLag(t, gateway)
		peak = max(peak, lag)
		t.Logf("%5.1fs Elasticsearch down, indexer lag %d", l.since(), lag)
	}
	l.mark("restart")
	node.Start(t)
	l.mark("up")
	t.Logf("%5.1fs Elasticsearch up again (its start took %.1fs)", l.since(), l.marks["up"].Sub(l.marks["restart"]).Seconds())
	subs := l.wait()

	m := settle(t, gateway, gateway, strconv.Quote(tag), subs, l.marks["up"])
	t.Logf("Elasticsearch stopped for %.1fs (from its stop until its restart returned) under %d complaints/s: indexer lag before %d, peak while down %d; %s",
		l.marks["up"].Sub(l.marks["stop"]).Seconds(), loadRate, before, peak, m)
	if peak <= before {
		t.Errorf("the indexer's lag did not grow while Elasticsearch was down: %d before, peak %d", before, peak)
	}
	if m.failed > 0 {
		t.Errorf("%d submissions failed while only the index was down; intake does not need it", m.failed)
	}
	m.check(t)
}

// indexerLag is the lag of the indexer's consumer group on the cases topic,
// as /api/v1/ops/lag shows it.
func indexerLag(tb testing.TB, p *proc) int64 {
	tb.Helper()
	var lag struct {
		Groups []struct {
			Group, Topic string
			Total        int64
		}
	}
	if code := p.request(tb, http.MethodGet, "/api/v1/ops/lag", "", &lag); code != http.StatusOK {
		tb.Fatalf("ops lag: %d", code)
	}
	for _, g := range lag.Groups {
		if g.Group == "tousu-indexer" && g.Topic == "cases" {
			return g.Total
		}
	}
	tb.Fatal("the ops lag view has no tousu-indexer on cases")
	return 0
}
