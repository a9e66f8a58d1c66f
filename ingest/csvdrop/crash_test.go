package csvdrop

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/ingest/ingesttest"
	"github.com/tousu/tousu/internal/polltest"
)

// Environment of the child process of TestCrashAndResume.
const (
	envCrashDir   = "TOUSU_CSVDROP_TEST_CRASH_DIR"
	envCrashDelay = "TOUSU_CSVDROP_TEST_CRASH_DELAY"
)

// TestCrashChild is the process TestCrashAndResume kills: a Watcher whose
// Publish appends each id to published.log (the "broker") before
// acknowledging it. It returns once the file reached processed/.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(envCrashDir)
	if dir == "" {
		t.Skip("helper process of TestCrashAndResume")
	}
	delay, _ := time.ParseDuration(os.Getenv(envCrashDelay))
	log, err := os.OpenFile(filepath.Join(dir, "published.log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	publish := func(ctx context.Context, env ingest.Envelope) error {
		time.Sleep(delay)
		_, err := log.WriteString(env.ID + "\n") // one write(2): whole lines survive SIGKILL
		return err
	}
	w, err := New(provisioned(Config{Folders: []FolderConfig{{
		Name: "hotline", Path: filepath.Join(dir, "drop"), MaxInFlight: 8,
		Completeness: Completeness{Mode: CompleteRename}, ScanInterval: 20 * time.Millisecond,
	}}}), ingesttest.References(), publish, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	polltest.Until(t, "the summary of export.csv", func() bool {
		return exists(filepath.Join(dir, "drop", "processed", "export.csv.summary.json"))
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestCrashAndResume kills a real process with SIGKILL while it publishes
// a file, restarts it, and checks that every row id was published, no
// unknown id was, and the file ends in processed/ with a correct summary.
// Rows acknowledged just before the kill but not yet in the ledger are
// published again after the restart, under the same id: duplicates at the
// publish level are allowed only in that form.
func TestCrashAndResume(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Skip("cannot find the test binary:", err)
	}
	dir := t.TempDir()
	drop := filepath.Join(dir, "drop")
	if err := os.MkdirAll(drop, 0o755); err != nil {
		t.Fatal(err)
	}

	const n = 5000
	rows := [][]string{stdHeader}
	invalid := 0
	for i := 1; i <= n; i++ {
		r := stdRow(i)
		switch {
		case i%7 == 0:
			r[0] = "" // content id
		case i%100 == 0:
			r[2] = "" // no phone: rejected
			invalid++
		}
		rows = append(rows, r)
	}
	rows = append(rows, stdRow(1)) // a duplicate of row 2
	data := encode(t, csvText(",", rows...), "gbk")
	writeFile(t, filepath.Join(drop, "export.csv"), data)
	sum := sha256.Sum256(data)
	digest := hex.EncodeToString(sum[:])
	want := map[string]bool{}
	for i := 1; i <= n; i++ {
		switch {
		case i%7 == 0:
			want[ingest.NewID(ingest.ChannelHotline, "hotline", ingest.ContentKey(digest, strconv.Itoa(i+1)))] = true
		case i%100 != 0:
			want[rowID("hotline", stdRow(i)[0])] = true
		}
	}

	child := func(delay string) *exec.Cmd {
		cmd := exec.Command(exe, "-test.run=^TestCrashChild$", "-test.v")
		cmd.Env = append(os.Environ(), envCrashDir+"="+dir, envCrashDelay+"="+delay)
		return cmd
	}
	published := func() []string {
		b, _ := os.ReadFile(filepath.Join(dir, "published.log"))
		return strings.Fields(string(b))
	}

	first := child("5ms")
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- first.Wait() }()
	polltest.Until(t, "2,000 rows published", func() bool {
		select {
		case err := <-exited:
			t.Fatalf("the child finished before it was killed: %v", err)
		default:
		}
		return len(published()) >= 2000 // at 1,600 rows/s at most: past a timed ledger flush
	})
	if err := first.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-exited
	before := len(published())
	if before >= len(want) {
		t.Fatalf("all %d rows were published before the kill", before)
	}
	if !exists(filepath.Join(drop, "export.csv")) || exists(filepath.Join(drop, "processed", "export.csv")) {
		t.Fatal("the file moved before all its rows were acknowledged")
	}

	second := child("0s")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	second = exec.CommandContext(ctx, second.Path, second.Args[1:]...)
	second.Env = append(os.Environ(), envCrashDir+"="+dir, envCrashDelay+"=0s")
	if out, err := second.CombinedOutput(); err != nil {
		t.Fatalf("restarted child: %v\n%s", err, out)
	}

	counts := map[string]int{}
	for _, id := range published() {
		if !want[id] {
			t.Fatalf("published an unexpected id %s", id)
		}
		counts[id]++
	}
	again := 0
	for id := range want {
		switch c := counts[id]; {
		case c == 0:
			t.Errorf("row %s was lost", id)
		case c > 2:
			t.Errorf("row %s published %d times", id, c)
		case c == 2:
			again++
		}
	}
	// Only rows acknowledged after the last ledger write before the kill
	// can be published twice.
	if again > flushRows+8 {
		t.Errorf("%d rows published twice; at most one ledger batch may be", again)
	}
	t.Logf("%d ids published before the kill, %d of them again after the restart", before, again)

	s := readSummary(t, filepath.Join(drop, "processed", "export.csv.summary.json"))
	if s.RowsRead != n+1 || s.Published != len(want) || s.Duplicates != 1 || s.Rejected != invalid || s.Resumed == 0 || s.Resumed > before {
		t.Errorf("summary %+v; want %d read, %d published, 1 duplicate, %d rejected", s, n+1, len(want), invalid)
	}
	rej, err := os.Open(filepath.Join(drop, "processed", "export.csv.rejected.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer rej.Close()
	lines := 0
	for sc := bufio.NewScanner(rej); sc.Scan(); {
		lines++
	}
	if lines != invalid+1 {
		t.Errorf("rejected file has %d lines, want %d rows and a header", lines, invalid)
	}
}
