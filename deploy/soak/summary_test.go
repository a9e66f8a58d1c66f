package soak

import (
	"bytes"
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"
)

func TestSlope(t *testing.T) {
	tests := []struct {
		name string
		x, y []float64
		want float64
	}{
		{"flat", []float64{0, 1, 2, 3}, []float64{5, 5, 5, 5}, 0},
		{"rising 2 a minute", []float64{0, 1, 2, 3}, []float64{1, 3, 5, 7}, 2},
		{"noisy, falling", []float64{0, 1, 2, 3, 4}, []float64{10, 9.5, 8, 7.5, 6}, -1},
		{"one point", []float64{1}, []float64{9}, 0},
		{"no spread in x", []float64{2, 2}, []float64{1, 9}, 0},
		{"lengths differ", []float64{0, 1}, []float64{1}, 0},
	}
	for _, tt := range tests {
		if got := Slope(tt.x, tt.y); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("%s: Slope = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// metricsText is /metrics as tousu writes it, trimmed.
const metricsText = `# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 412
go_memstats_heap_inuse_bytes 4.2663936e+07
process_resident_memory_bytes 1.18104064e+08
tousu_consumer_messages_dead_lettered_total{group="tousu-normalizer",topic="complaints.raw"} 2
tousu_consumer_retries_total{group="tousu-indexer",topic="cases"} 0
tousu_producer_errors_total{topic="complaints.raw"} 5
tousu_producer_messages_total{topic="complaints.raw"} 9000
tousu_csvdrop_rows_rejected_total{folder="hotline",reason="手机号无效"} 1
tousu_webform_submissions_total{outcome="accepted"} 12
`

func TestRead(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "未授权", http.StatusUnauthorized)
			return
		}
		w.Write([]byte(metricsText))
	}))
	defer srv.Close()
	s, err := Reader{URL: srv.URL, Token: "tok"}.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s.Goroutines != 412 || s.HeapInuse != 42663936 || s.RSS != 118104064 {
		t.Errorf("sample %+v", s)
	}
	want := map[string]float64{
		`tousu_consumer_messages_dead_lettered_total{group="tousu-normalizer",topic="complaints.raw"}`: 2,
		`tousu_consumer_retries_total{group="tousu-indexer",topic="cases"}`:                            0,
		`tousu_producer_errors_total{topic="complaints.raw"}`:                                          5,
		`tousu_csvdrop_rows_rejected_total{folder="hotline",reason="手机号无效"}`:                           1,
	}
	if len(s.Errors) != len(want) {
		t.Errorf("error series %v, want %v", s.Errors, want)
	}
	for k, v := range want {
		if s.Errors[k] != v {
			t.Errorf("%s = %v, want %v", k, s.Errors[k], v)
		}
	}
	own, err := Reader{URL: srv.URL, Token: "tok", PID: os.Getpid()}.Read(context.Background())
	if err != nil || own.RSSAnon <= 0 || own.RSSFile <= 0 {
		t.Errorf("with this process's id: anonymous %v, file %v (%v), want both", own.RSSAnon, own.RSSFile, err)
	}
	if _, err := (Reader{URL: srv.URL}).Read(context.Background()); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("without the token: %v, want the status", err)
	}
	if _, err := parse(strings.NewReader("go_goroutines 3\n")); err == nil {
		t.Error("metrics without memory: no error")
	}
}

func TestSummary(t *testing.T) {
	const mib = 1 << 20
	sample := func(sec int, rss, heap, g float64, errs map[string]float64) Sample {
		return Sample{At: time.Duration(sec) * time.Second, RSS: rss * mib, HeapInuse: heap * mib, Goroutines: g, Errors: errs}
	}
	e := func(retries, dlq float64) map[string]float64 {
		return map[string]float64{`tousu_consumer_retries_total{group="tousu-router"}`: retries, `tousu_consumer_messages_dead_lettered_total{group="tousu-router"}`: dlq}
	}
	tests := []struct {
		name      string
		s         Series
		rssSlope  float64 // MiB a minute
		routines  Gauge
		grew      map[string]float64
		nonzero   int
		wantInLog string
	}{
		{
			name: "flat after a warm-up, errors only in the first half",
			s: Series{sample(0, 80, 30, 300, e(0, 0)), sample(60, 120, 45, 420, e(3, 0)), sample(120, 121, 44, 410, e(3, 0)),
				sample(180, 120, 46, 415, e(3, 0)), sample(240, 121, 45, 412, e(3, 0))},
			rssSlope: 0, routines: Gauge{Start: 300, End: 412, Peak: 420}, grew: map[string]float64{}, nonzero: 1,
			wantInLog: `tousu_consumer_retries_total{group="tousu-router"} = 3 (+0 over the second half)`,
		},
		{
			name: "a leak: RSS 10 MiB a minute, a dead letter late",
			s: Series{sample(0, 100, 40, 300, e(0, 0)), sample(60, 110, 45, 300, e(0, 0)), sample(120, 120, 50, 300, e(0, 0)),
				sample(180, 130, 55, 300, e(0, 1)), sample(240, 140, 60, 300, e(0, 1))},
			rssSlope: 10, routines: Gauge{Start: 300, End: 300, Peak: 300},
			grew: map[string]float64{`tousu_consumer_messages_dead_lettered_total{group="tousu-router"}`: 1}, nonzero: 1,
			wantInLog: "slope +10.00 MiB/min",
		},
	}
	for _, tt := range tests {
		sum := tt.s.Summary()
		if math.Abs(sum.RSS.SlopePerMinute/mib-tt.rssSlope) > 1e-9 {
			t.Errorf("%s: RSS slope %v MiB/min, want %v", tt.name, sum.RSS.SlopePerMinute/mib, tt.rssSlope)
		}
		if g := sum.Routines; g.Start != tt.routines.Start || g.End != tt.routines.End || g.Peak != tt.routines.Peak {
			t.Errorf("%s: goroutines %+v, want %+v", tt.name, g, tt.routines)
		}
		if len(sum.ErrorGrowth) != len(tt.grew) || len(sum.ErrorsTotal) != tt.nonzero {
			t.Errorf("%s: grew %v, totals %v; want %v and %d non-zero", tt.name, sum.ErrorGrowth, sum.ErrorsTotal, tt.grew, tt.nonzero)
		}
		for k, v := range tt.grew {
			if sum.ErrorGrowth[k] != v {
				t.Errorf("%s: %s grew %v, want %v", tt.name, k, sum.ErrorGrowth[k], v)
			}
		}
		if !strings.Contains(sum.String(), tt.wantInLog) {
			t.Errorf("%s: summary lacks %q:\n%s", tt.name, tt.wantInLog, sum)
		}
		if sum.Duration != 4*time.Minute || sum.Samples != 5 {
			t.Errorf("%s: %d samples over %s", tt.name, sum.Samples, sum.Duration)
		}
	}
}

func TestWriteCSV(t *testing.T) {
	s := Series{
		{At: 0, RSS: 1 << 27, HeapInuse: 1 << 25, Goroutines: 300, Errors: map[string]float64{"a": 1, "b": 2}},
		{At: 2500 * time.Millisecond, RSS: 1 << 27, HeapInuse: 1 << 25, Goroutines: 301},
	}
	var b bytes.Buffer
	if err := s.WriteCSV(&b); err != nil {
		t.Fatal(err)
	}
	want := "seconds,rss_bytes,rss_anon_bytes,rss_file_bytes,heap_inuse_bytes,goroutines,errors\n0.0,134217728,0,0,33554432,300,3\n2.5,134217728,0,0,33554432,301,0\n"
	if b.String() != want {
		t.Errorf("CSV\n%s\nwant\n%s", b.String(), want)
	}
}

// TestWriteHotline checks the generated export: GB18030 (not valid
// UTF-8), the hotline header, and the same work-order number for the
// same row in two exports.
func TestWriteHotline(t *testing.T) {
	var a, b bytes.Buffer
	if err := WriteHotline(&a, "njtest", 0, 5); err != nil {
		t.Fatal(err)
	}
	if err := WriteHotline(&b, "njtest", 4, 2); err != nil {
		t.Fatal(err)
	}
	text, err := simplifiedchinese.GB18030.NewDecoder().String(a.String())
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(text, "\r\n"), "\r\n")
	if len(lines) != 6 || !strings.HasPrefix(lines[0], "工单号,受理时间,来电号码,") {
		t.Fatalf("export:\n%s", text)
	}
	if bytes.Equal(a.Bytes(), []byte(text)) {
		t.Error("the export is UTF-8, want GB18030")
	}
	order, _ := HotlineRow("njtest", 4)
	second, _ := simplifiedchinese.GB18030.NewDecoder().String(b.String())
	if !strings.Contains(lines[5], order) || !strings.Contains(second, order) {
		t.Errorf("row 4 (%s) not in both exports:\n%s\n%s", order, text, second)
	}
	if !strings.Contains(text, "139-") {
		t.Errorf("no phone number typed with dashes:\n%s", text)
	}
}
