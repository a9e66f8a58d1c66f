package app

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tousu/tousu/ingest/imap"
	"github.com/tousu/tousu/sinks/esindex"
)

// declaredMetrics starts an embedded tousu with every channel (a mailbox
// that cannot be reached, the hotline folder, webhooks, the web form) and
// returns the tousu_ metrics it declares, with those of the Elasticsearch
// index added (declared by an Open that cannot reach its node).
func declaredMetrics(tb testing.TB) []Metric {
	tb.Helper()
	box, err := imap.MailboxFromURL("kefu", "imap://kefu%40tousu.test:mima@127.0.0.1:1/INBOX?tls=none&poll=1h")
	if err != nil {
		tb.Fatal(err)
	}
	r := startTousu(tb, tb.TempDir(), func(c *Config) { c.IMAP.Mailboxes = []imap.MailboxConfig{box} })
	var es esindex.Config
	es.URLs = []string{"http://127.0.0.1:1"}
	es.Provision()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := esindex.Open(ctx, es, nil, r.registry); err == nil {
		tb.Fatal("esindex.Open reached a node on 127.0.0.1:1")
	}
	return r.registry.Metrics("tousu_")
}

// readmeSection returns the text of README.md between the markers
// "<!-- name:begin …" (its line) and "<!-- name:end -->".
func readmeSection(tb testing.TB, name string) string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(tb), "README.md"))
	if err != nil {
		tb.Fatal(err)
	}
	begin, end := "<!-- "+name+":begin", "<!-- "+name+":end -->"
	s := string(b)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		tb.Fatalf("README.md has no %q … %q section", begin, end)
	}
	got := s[i:j]
	return got[strings.Index(got, "\n")+1:]
}

// TestReadmeMetrics: the README's table of metrics is the one generated
// from what a running process registers, every metric with a type and a
// meaning.
func TestReadmeMetrics(t *testing.T) {
	metrics := declaredMetrics(t)
	if len(metrics) < 40 {
		t.Fatalf("only %d tousu_ metrics declared: %v", len(metrics), metrics)
	}
	for _, m := range metrics {
		if m.Type == "" || m.Help == "" {
			t.Errorf("metric %s has no type or help: %+v", m.Name, m)
		}
	}
	if got, want := readmeSection(t, "metrics"), MetricsTable(metrics); got != want {
		t.Errorf("README.md's table of metrics is out of date; replace it with:\n%s", want)
	}
}
