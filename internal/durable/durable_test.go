package durable

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/tousu/tousu/internal/smallfs"
)

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if err := os.Mkdir(filepath.Join(dir, "processed"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, content := range []string{"第一版", "第二版，更长一些的内容"} {
		if err := WriteFile(root, "processed/x.csv.summary.json", []byte(content), 0o640); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(dir, "processed", "x.csv.summary.json"))
		if err != nil || string(got) != content {
			t.Errorf("read %q, %v; want %q", got, err, content)
		}
	}
	if err := WritePath(filepath.Join(dir, "state.json"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*", "*"+TempSuffix))
	if more, _ := filepath.Glob(filepath.Join(dir, ".*"+TempSuffix)); len(left)+len(more) != 0 {
		t.Errorf("temporary files left: %v %v", left, more)
	}
	if err := WriteFile(root, "../outside", []byte("x"), 0o600); err == nil {
		t.Error("wrote outside the root")
	}
}

// TestWriteFileOnAFullDisk: a write that does not fit fails with ENOSPC
// and leaves the earlier content and no temporary file.
func TestWriteFileOnAFullDisk(t *testing.T) {
	dir := smallfs.Mount(t, 128<<10)
	if err := WritePath(filepath.Join(dir, "summary.json"), []byte("旧内容"), 0o640); err != nil {
		t.Fatal(err)
	}
	smallfs.Fill(t, dir)
	err := WritePath(filepath.Join(dir, "summary.json"), make([]byte, 64<<10), 0o640)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write on a full disk: %v, want ENOSPC", err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "summary.json"))
	if string(got) != "旧内容" {
		t.Errorf("earlier content now %q", got)
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, ".*"+TempSuffix)); len(tmp) != 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
}
