package csvdrop

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/tousu/tousu/internal/smallfs"
)

// TestFolderOnAFullDisk: a hotline folder whose disk is full takes no
// file half-way: the export stays where the operator dropped it, nothing
// incomplete appears in processed/ or failed/, and once there is space
// the file is taken with every row published exactly once and its
// rejected rows written.
func TestFolderOnAFullDisk(t *testing.T) {
	disk := smallfs.Mount(t, 2<<20)
	rec := newRecorder()
	f, clk := testFolder(t, FolderConfig{Path: filepath.Join(disk, "rexian"), Completeness: Completeness{Mode: CompleteRename}}, rec.publish)
	rows := [][]string{stdHeader}
	for i := 1; i <= 300; i++ {
		rows = append(rows, stdRow(i))
	}
	bad := stdRow(301)
	bad[5] = "" // no complaint text: a rejected row
	rows = append(rows, bad)
	writeFile(t, filepath.Join(f.cfg.Path, "20261206.csv"), encode(t, csvText(",", rows...), "gbk"))
	free := smallfs.Fill(t, disk)

	for range 2 {
		f.scan(context.Background())
		clk.Advance(retryMax)
	}
	t.Logf("disk full: %d rows published, export still in the folder: %v", rec.count(), exists(filepath.Join(f.cfg.Path, "20261206.csv")))
	for _, sub := range []string{"processed", "failed"} {
		entries, err := os.ReadDir(filepath.Join(f.cfg.Path, sub))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if len(entries) != 0 {
			t.Errorf("%s/ holds %v while the disk is full", sub, entries)
		}
	}
	if !exists(filepath.Join(f.cfg.Path, "20261206.csv")) && rec.count() < 300 {
		t.Fatalf("the export left the folder with %d rows published", rec.count())
	}

	free()
	for range 2 {
		f.scan(context.Background())
		clk.Advance(retryMax)
	}
	sum := readSummary(t, filepath.Join(f.cfg.Path, "processed", "20261206.csv.summary.json"))
	if rec.count() != 300 || sum.Rejected != 1 {
		t.Errorf("after freeing: %d published, summary %+v; want 300 and one rejected row", rec.count(), sum)
	}
	for id, n := range rec.calls {
		if n != 1 {
			t.Errorf("%s published %d times", id, n)
		}
	}
	if !exists(filepath.Join(f.cfg.Path, "processed", "20261206.csv.rejected.csv")) {
		t.Error("no rejected.csv for the rejected row")
	}
}
