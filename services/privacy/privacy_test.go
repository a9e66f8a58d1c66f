package privacy

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/normalize"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/sinks/bleveindex"
)

// now is the test's clock: three years and a bit after the cases.
var now = time.Date(2029, 12, 6, 2, 0, 0, 0, time.UTC)

// retentionCase is a case of customer phone, finished (or not) at done.
func retentionCase(id, phone string, status router.Status, done time.Time) router.Case {
	return router.Case{V: router.SchemaVersion, ID: id, Revision: 4, References: []string{id}, Channel: ingest.ChannelHotline,
		Customer:    normalize.Customer{Name: "周建华", Phone: phone, Key: "phone:" + phone},
		Description: "周建华来电：12月3号起手机没信号，家住成都市武侯区人民南路4段12号，回电13608080808", Category: "网络质量",
		Status: status, ReceivedAt: done.Add(-72 * time.Hour), UpdatedAt: done}
}

func TestDue(t *testing.T) {
	const retention = 26280 * time.Hour // three years
	cutoff := now.Add(-retention)
	erased := router.Erase(retentionCase("e", "+8613608080808", router.StatusClosed, cutoff.Add(-time.Hour)), router.Erasure{At: cutoff, Reason: router.ErasureRetention, By: router.RetentionActor})
	tests := []struct {
		name      string
		c         router.Case
		retention time.Duration
		due       bool
	}{
		{"closed before the cutoff", retentionCase("a", "+8613608080808", router.StatusClosed, cutoff.Add(-time.Minute)), retention, true},
		{"resolved exactly at the cutoff", retentionCase("b", "+8613608080808", router.StatusResolved, cutoff), retention, true},
		{"closed after the cutoff", retentionCase("c", "+8613608080808", router.StatusClosed, cutoff.Add(time.Minute)), retention, false},
		{"open however old", retentionCase("d", "+8613608080808", router.StatusInProgress, cutoff.AddDate(-5, 0, 0)), retention, false},
		{"erased already", erased, retention, false},
		{"retention off", retentionCase("a", "+8613608080808", router.StatusClosed, cutoff.AddDate(-5, 0, 0)), 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := len(Due([]router.Case{tt.c}, tt.retention, now)) == 1; got != tt.due {
				t.Errorf("due %v, want %v", got, tt.due)
			}
		})
	}
}

// recorder keeps the actions a Service publishes.
type recorder struct {
	mu   sync.Mutex
	sent []router.Action
	fail error
}

func (r *recorder) publish(_ context.Context, a router.Action) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.sent = append(r.sent, a)
	return nil
}

// TestScan: the retention job sends one erase action, with the case
// erased as its snapshot, for each case finished longer ago than the
// period, none for the others, and counts them.
func TestScan(t *testing.T) {
	ctx := context.Background()
	idx, err := bleveindex.Open(bleveindex.Config{Path: filepath.Join(t.TempDir(), "cases.bleve")}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	cutoff := now.Add(-26280 * time.Hour)
	cases := []router.Case{
		retentionCase("TSOLD0000001", "+8613608080808", router.StatusClosed, cutoff.AddDate(0, -2, 0)),
		retentionCase("TSOLD0000002", "+8613608080809", router.StatusResolved, cutoff.Add(-24*time.Hour)),
		retentionCase("TSNEW0000003", "+8613608080808", router.StatusClosed, cutoff.AddDate(0, 1, 0)),
		retentionCase("TSOPEN000004", "+8613608080807", router.StatusOpen, cutoff.AddDate(-1, 0, 0)),
	}
	if err := idx.Upsert(ctx, cases); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	reg := prometheus.NewRegistry()
	cfg := Config{RetentionAfterClose: 26280 * time.Hour}
	cfg.Provision()
	s := New(Deps{Index: idx, Publish: rec.publish, Config: cfg, Now: func() time.Time { return now }, Logger: zaptest.NewLogger(t), Registry: reg})
	n, err := s.Scan(ctx)
	if err != nil || n != 2 {
		t.Fatalf("Scan = %d, %v; want the two old finished cases", n, err)
	}
	got := map[string]router.Action{}
	for _, a := range rec.sent {
		got[a.Case] = a
	}
	for _, id := range []string{"TSOLD0000001", "TSOLD0000002"} {
		a, ok := got[id]
		if !ok {
			t.Errorf("no erase action for %s", id)
			continue
		}
		if a.ID != "erase/"+id || a.Actor != router.RetentionActor || a.Reason != router.ErasureRetention || a.Snapshot == nil ||
			a.Snapshot.Erased == nil || strings.Contains(a.Snapshot.Description, "13608080808") || strings.Contains(a.Snapshot.Description, "人民南路") {
			t.Errorf("erase action %+v", a)
		}
		if err := a.Validate(); err != nil {
			t.Errorf("the action of %s is invalid: %v", id, err)
		}
	}
	if v := erasures(t, reg, router.ErasureRetention); v != 2 {
		t.Errorf("tousu_privacy_erasures_total{reason=retention} = %v, want 2", v)
	}

	// The broker down: the scan says so, and the next one sends again.
	rec.fail = errors.New("broker down")
	if _, err := s.Scan(ctx); err == nil {
		t.Error("a scan with the broker down reported no error")
	}
	// Retention off: nothing.
	off := New(Deps{Index: idx, Publish: rec.publish, Now: func() time.Time { return now }, Logger: zaptest.NewLogger(t)})
	if n, err := off.Scan(ctx); n != 0 || err != nil {
		t.Errorf("Scan with retention off = %d, %v", n, err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{}, ""},
		{Config{RetentionAfterClose: 26280 * time.Hour}, ""},
		{Config{RetentionAfterClose: -time.Hour}, "retention_after_close: must be 0 (off) or positive"},
		{Config{RetentionAfterClose: time.Hour}, "retention_after_close: at least 24h"},
		{Config{ScanEvery: -time.Minute}, "scan_every: must be positive"},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if (err == nil) != (tt.want == "") || err != nil && !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tt.cfg, err, tt.want)
		}
	}
}

// erasures reads tousu_privacy_erasures_total for reason from reg.
func erasures(tb testing.TB, reg *prometheus.Registry, reason string) float64 {
	tb.Helper()
	families, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "tousu_privacy_erasures_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
