package esindex

import (
	"context"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tousu/tousu/internal/secret"
	"github.com/tousu/tousu/internal/servertest"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/sinks/caseindex"
	"github.com/tousu/tousu/sinks/caseindex/caseindextest"
)

// The tests in this file run against the secured node of
// deploy/dev/services.sh (TOUSU_TEST_ES_SECURE): x-pack security, HTTPS
// with a certificate of a CA made there, an API key.

// secureConfig is the configuration of a test index on the secured node,
// with its CA and the API key read from its file.
func secureConfig(tb testing.TB, node *servertest.SecureES, prefix string) Config {
	tb.Helper()
	cfg := realConfig(node.URL, prefix)
	cfg.APIKeyFile = node.APIKeyFile
	cfg.TLS.CAFile = node.CAFile
	return provisioned(cfg)
}

// removeWith deletes the test's index and template through x at the end of
// the test (before x closes, if registered after it opened).
func removeWith(tb testing.TB, x *Index) {
	tb.Helper()
	tb.Cleanup(func() {
		ctx := context.Background()
		if _, err := x.do(ctx, "delete index", esapi.IndicesDeleteRequest{Index: []string{x.names.index}}); err != nil {
			tb.Errorf("delete index %s: %v", x.names.index, err)
		}
		if _, err := x.do(ctx, "delete template", esapi.IndicesDeleteIndexTemplateRequest{Name: x.names.template}); err != nil {
			tb.Errorf("delete template %s: %v", x.names.template, err)
		}
	})
}

func TestSecureNodeIndexAndSearch(t *testing.T) {
	node := servertest.RequireSecureES(t)
	core, logs := observer.New(zap.DebugLevel)
	cfg := secureConfig(t, node, uniquePrefix(t))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	idx, err := Open(ctx, cfg, zap.New(core), nil)
	if err != nil {
		t.Fatalf("Open over TLS with the API key: %v", err)
	}
	t.Cleanup(func() {
		if err := idx.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	removeWith(t, idx)
	notes := []string{
		"客户来电：宽带12月3日起断网，报修3次无人上门，要求减免月租",
		"客户邮件（GBK 标成 utf-8）：发票抬头錯误，已退回重开",
	}
	for i, note := range notes {
		c := caseindextest.NewCase(t, fmt.Sprintf("TS20241203-%d", 40+i), func(c *router.Case) { c.Description = note })
		if err := idx.Upsert(ctx, []router.Case{c}); err != nil {
			t.Fatalf("Upsert over TLS: %v", err)
		}
	}
	if err := refresh(ctx, idx); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		query string
		want  int
	}{
		{"断网", 1},
		{"发票", 1},
		{"燃气", 0},
	}
	for _, tt := range tests {
		res, err := idx.Search(ctx, caseindex.Query{Text: tt.query})
		if err != nil || len(res.Hits) != tt.want {
			t.Errorf("Search(%q) on the secured node: %d hits, %v; want %d", tt.query, len(res.Hits), err, tt.want)
		}
	}
	checkNoSecret(t, node.APIKey(t), "", logs)
}

func TestSecureNodeRefuses(t *testing.T) {
	node := servertest.RequireSecureES(t)
	dir := t.TempDir()
	other := filepath.Join(dir, "other-ca.pem")
	if err := os.WriteFile(other, otherCA(t), 0o600); err != nil {
		t.Fatal(err)
	}
	good := node.APIKey(t)
	id, _, _ := strings.Cut(decodeKey(t, good), ":")
	wrong := base64.StdEncoding.EncodeToString([]byte(id + ":错误的密钥Zm9vYmFy"))
	tests := []struct {
		name    string
		change  func(*Config)
		timeout time.Duration
		want    string
	}{
		{"wrong API key", func(c *Config) { c.APIKeyFile, c.APIKey = "", secret.Inline(wrong) }, time.Minute, "refused the credentials (api_key"},
		{"untrusted CA", func(c *Config) { c.TLS.CAFile = other }, time.Minute, "certificate is not trusted (tls.ca_file, tls.server_name)"},
		{"system CAs only", func(c *Config) { c.TLS.CAFile = "" }, time.Minute, "certificate is not trusted"},
		{"wrong server name", func(c *Config) { c.TLS.ServerName = "es.tousu.example" }, time.Minute, "certificate is not trusted"},
		// The node closes a plain connection to its HTTPS port: that looks
		// like a node going down, so Open retries until its context ends.
		{"plain http", func(c *Config) {
			c.URLs = []string{strings.Replace(node.URL, "https://", "http://", 1)}
			c.TLS = TLSConfig{}
		}, 3 * time.Second, "context deadline exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := secureConfig(t, node, uniquePrefix(t))
			tt.change(&cfg)
			core, logs := observer.New(zap.DebugLevel)
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			idx, err := Open(ctx, cfg, zap.New(core), nil)
			if err == nil {
				idx.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open: %v\nwant it to say %q", err, tt.want)
			}
			checkNoSecret(t, good, err.Error(), logs)
			checkNoSecret(t, wrong, err.Error(), logs)
		})
	}
}

// checkNoSecret fails the test when the API key, or its secret half, shows
// in the error text or in a logged message or field.
func checkNoSecret(tb testing.TB, key, errText string, logs *observer.ObservedLogs) {
	tb.Helper()
	_, half, _ := strings.Cut(decodeKey(tb, key), ":")
	texts := []string{errText}
	for _, e := range logs.All() {
		texts = append(texts, e.Message, fmt.Sprint(e.ContextMap()))
	}
	for _, s := range texts {
		if strings.Contains(s, key) || half != "" && strings.Contains(s, half) {
			tb.Errorf("the API key shows in %q", s)
		}
	}
}

// decodeKey returns the "id:key" of a base64 API key.
func decodeKey(tb testing.TB, key string) string {
	tb.Helper()
	raw, err := base64.StdEncoding.DecodeString(key)
	if err != nil {
		tb.Fatalf("API key is not base64: %v", err)
	}
	return string(raw)
}

// otherCA returns, in PEM, the certificate of a test TLS server: a CA of
// its own that signed nothing the node has.
func otherCA(tb testing.TB) []byte {
	tb.Helper()
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
}
