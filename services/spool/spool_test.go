package spool

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/internal/polltest"
	"github.com/tousu/tousu/internal/smallfs"
)

// broker stands in for the broker: while down, a publish waits until its
// context ends, as kafka-go's writer does against an unreachable broker.
type broker struct {
	mu    sync.Mutex
	down  bool
	got   []string // envelope ids acknowledged, in order
	calls int      // publish calls that succeeded
}

func (b *broker) publish(ctx context.Context, envs ...ingest.Envelope) error {
	b.mu.Lock()
	down := b.down
	if !down {
		for _, env := range envs {
			b.got = append(b.got, env.ID)
		}
		b.calls++
	}
	b.mu.Unlock()
	if down {
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

func (b *broker) set(down bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.down = down
}

func (b *broker) ids() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.got)
}

// complaint is an envelope as the web form makes one.
func complaint(n string) ingest.Envelope {
	id := ingest.NewID(ingest.ChannelWebForm, "form", n)
	return ingest.Envelope{V: ingest.SchemaVersion, ID: id, Reference: ingest.ReferenceFor(id), Channel: ingest.ChannelWebForm,
		Source: "form", ReceivedAt: time.Date(2026, 12, 6, 21, 5, 0, 0, time.UTC), Name: "王女士", Phone: "13800138000",
		Description: "宽带从12月3号起每天晚上8点到11点掉线，报修两次没人上门，要求尽快处理并减免当月费用"}
}

func openSpool(tb testing.TB, dir string, cfg Config, b *broker) *Spool {
	tb.Helper()
	if cfg.BrokerWait == 0 {
		cfg.BrokerWait = 20 * time.Millisecond
	}
	if cfg.RelayWait == 0 {
		cfg.RelayWait = 20 * time.Millisecond
	}
	cfg.Provision()
	if err := cfg.Validate(); err != nil {
		tb.Fatal(err)
	}
	s, err := Open(dir, cfg, b.publish, zap.NewNop(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// run relays until the test ends.
func run(tb testing.TB, s *Spool) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("Run: %v", err)
		}
	})
}

func publishAll(tb testing.TB, s *Spool, names ...string) []string {
	tb.Helper()
	var ids []string
	for _, n := range names {
		env := complaint(n)
		if err := s.Publish(context.Background(), env); err != nil {
			tb.Fatalf("Publish %s: %v", n, err)
		}
		ids = append(ids, env.ID)
	}
	return ids
}

func spooledFiles(tb testing.TB, dir string) []string {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		tb.Fatal(err)
	}
	return files
}

func TestBrokerUpGoesStraightThrough(t *testing.T) {
	b, dir := &broker{}, t.TempDir()
	s := openSpool(t, dir, Config{}, b)
	ids := publishAll(t, s, "1", "2")
	if got := b.ids(); !slices.Equal(got, ids) {
		t.Errorf("broker got %v, want %v", got, ids)
	}
	if files := spooledFiles(t, dir); len(files) != 0 {
		t.Errorf("spooled %v with the broker up", files)
	}
}

// TestBrokerDownSpoolsThenRelaysInOrder: while the broker is down every
// submission is on disk when Publish returns; once it is back they reach
// it in the order they came, and a submission made while older ones wait
// queues behind them even though the broker would take it.
func TestBrokerDownSpoolsThenRelaysInOrder(t *testing.T) {
	b, dir := &broker{down: true}, t.TempDir()
	s := openSpool(t, dir, Config{}, b)
	ids := publishAll(t, s, "1", "2", "3")
	if files := spooledFiles(t, dir); len(files) != 3 {
		t.Fatalf("spool holds %v, want three files", files)
	}
	if n, oldest, bytes := s.Depth(); n != 3 || oldest.IsZero() || bytes == 0 {
		t.Errorf("depth %d, oldest %v, bytes %d", n, oldest, bytes)
	}
	b.set(false)
	ids = append(ids, publishAll(t, s, "4")...) // older ones still wait: spooled too
	if len(b.ids()) != 0 {
		t.Fatalf("broker got %v before the relay ran", b.ids())
	}
	run(t, s)
	polltest.Until(t, "the spool relayed", func() bool { n, _, _ := s.Depth(); return n == 0 })
	if got := b.ids(); !slices.Equal(got, ids) {
		t.Errorf("broker got %v, want %v in that order", got, ids)
	}
	if files := spooledFiles(t, dir); len(files) != 0 {
		t.Errorf("files left after the relay: %v", files)
	}
	if _, _, bytes := s.Depth(); bytes != 0 {
		t.Errorf("bytes %d after the relay", bytes)
	}
}

// TestRestartRelaysWhatAnEarlierProcessSpooled: a process that spooled and
// died leaves its files; the next one relays them, and a write that died
// before its rename (no receipt was given for it) is cleared away.
func TestRestartRelaysWhatAnEarlierProcessSpooled(t *testing.T) {
	b, dir := &broker{down: true}, t.TempDir()
	first := openSpool(t, dir, Config{}, b)
	ids := publishAll(t, first, "a", "b")
	if err := os.WriteFile(filepath.Join(dir, "00000000000000000007.json.tmp"), []byte(`{"v":1,"id":"half`), 0o600); err != nil {
		t.Fatal(err)
	}
	b.set(false)
	second := openSpool(t, dir, Config{}, b)
	if n, _, _ := second.Depth(); n != 2 {
		t.Fatalf("restarted spool holds %d, want 2", n)
	}
	ids = append(ids, publishAll(t, second, "c")...)
	run(t, second)
	polltest.Until(t, "the spool relayed", func() bool { n, _, _ := second.Depth(); return n == 0 })
	if got := b.ids(); !slices.Equal(got, ids) {
		t.Errorf("broker got %v, want %v", got, ids)
	}
	if _, err := os.Stat(filepath.Join(dir, "00000000000000000007.json.tmp")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("half-written file still there: %v", err)
	}
}

func TestFullSpoolRefuses(t *testing.T) {
	b, dir := &broker{down: true}, t.TempDir()
	one, err := ingest.EncodeJSON(complaint("1"))
	if err != nil {
		t.Fatal(err)
	}
	s := openSpool(t, dir, Config{MaxBytes: int64(len(one)) + 10}, b)
	publishAll(t, s, "1")
	if err := s.Room(context.Background()); err != nil {
		t.Errorf("Room with 10 bytes left: %v", err)
	}
	if err := s.Publish(context.Background(), complaint("2")); !errors.Is(err, ErrFull) {
		t.Fatalf("second Publish: %v, want ErrFull", err)
	}
	if files := spooledFiles(t, dir); len(files) != 1 {
		t.Errorf("spool holds %v, want the first only", files)
	}
	full := openSpool(t, t.TempDir(), Config{MaxBytes: int64(len(one))}, b)
	publishAll(t, full, "1")
	if err := full.Room(context.Background()); err == nil {
		t.Error("Room: nil for a full spool")
	}
}

// TestCallerGivingUpIsNotSpooled: a request whose client went away before
// the broker answered gets an error and no receipt, so nothing is spooled.
func TestCallerGivingUpIsNotSpooled(t *testing.T) {
	b, dir := &broker{down: true}, t.TempDir()
	s := openSpool(t, dir, Config{BrokerWait: time.Minute}, b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := s.Publish(ctx, complaint("1")); err == nil {
		t.Fatal("Publish: nil after the caller gave up")
	}
	if files := spooledFiles(t, dir); len(files) != 0 {
		t.Errorf("spooled %v", files)
	}
}

// TestUnreadableFileIsSetAside: a spooled file that no longer decodes
// does not stall the relay; it is moved aside, never deleted.
func TestUnreadableFileIsSetAside(t *testing.T) {
	b, dir := &broker{}, t.TempDir()
	garbage := []byte("\x00\x00disk trouble")
	if err := os.WriteFile(filepath.Join(dir, "00000000000000000001.json"), garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	s := openSpool(t, dir, Config{}, b)
	b.set(true)
	ids := publishAll(t, s, "after")
	b.set(false)
	run(t, s)
	polltest.Until(t, "the spool relayed", func() bool { n, _, _ := s.Depth(); return n == 0 })
	if got := b.ids(); !slices.Equal(got, ids) {
		t.Errorf("broker got %v, want %v", got, ids)
	}
	kept, err := os.ReadFile(filepath.Join(dir, "unreadable", "00000000000000000001.json"))
	if err != nil || string(kept) != string(garbage) {
		t.Errorf("unreadable file: %q, %v; want it kept as it was", kept, err)
	}
}

// TestRelayInBatches: a backlog reaches the broker in requests of at most
// relay_batch envelopes, still in the order it was spooled.
func TestRelayInBatches(t *testing.T) {
	b, dir := &broker{down: true}, t.TempDir()
	s := openSpool(t, dir, Config{RelayBatch: 100}, b)
	var names []string
	for i := range 250 {
		names = append(names, fmt.Sprint(i))
	}
	ids := publishAll(t, s, names...)
	b.set(false)
	run(t, s)
	polltest.Until(t, "the spool relayed", func() bool { n, _, _ := s.Depth(); return n == 0 })
	if got := b.ids(); !slices.Equal(got, ids) {
		t.Errorf("broker got %d envelopes, want the %d in the order spooled", len(got), len(ids))
	}
	b.mu.Lock()
	calls := b.calls
	b.mu.Unlock()
	if calls != 3 {
		t.Errorf("%d relay requests for 250 envelopes in batches of 100, want 3", calls)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{{MaxBytes: -1}, {BrokerWait: -time.Second}, {RelayWait: -time.Second}, {RelayBatch: -1}} {
		if err := c.Validate(); err == nil {
			t.Errorf("Validate(%+v): nil", c)
		}
	}
}

// TestDiskFull: on a full disk a submission gets an error (no receipt),
// nothing half-written is left, what was spooled before stays readable
// and is relayed, and the spool takes submissions again once there is
// space.
func TestDiskFull(t *testing.T) {
	b, dir := &broker{down: true}, smallfs.Mount(t, 256<<10)
	s := openSpool(t, dir, Config{}, b)
	before := publishAll(t, s, "1", "2")
	free := smallfs.Fill(t, dir)
	err := s.Publish(context.Background(), complaint("3"))
	if err == nil || !errors.Is(err, syscall.ENOSPC) || errors.Is(err, ErrFull) {
		t.Fatalf("Publish on a full disk: %v, want an ENOSPC error", err)
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(tmp) != 0 {
		t.Errorf("half-written files left: %v", tmp)
	}
	if n, _, _ := s.Depth(); n != 2 {
		t.Errorf("depth %d after the failed write, want 2", n)
	}
	b.set(false)
	run(t, s)
	polltest.Until(t, "the spool relayed", func() bool { n, _, _ := s.Depth(); return n == 0 })
	if got := b.ids(); !slices.Equal(got, before) {
		t.Errorf("broker got %v, want %v", got, before)
	}
	free()
	b.set(true)
	publishAll(t, s, "4")
	if files := spooledFiles(t, dir); len(files) != 1 {
		t.Errorf("spool holds %v after freeing the disk, want one file", files)
	}
}
