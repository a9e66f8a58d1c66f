package smallfs

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestFillAndFree: a filled file system refuses a write with ENOSPC and
// takes it again once freed.
func TestFillAndFree(t *testing.T) {
	dir := Mount(t, 64<<10)
	free := Fill(t, dir)
	err := os.WriteFile(filepath.Join(dir, "one"), make([]byte, 8192), 0o600)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write on a full file system: %v, want ENOSPC", err)
	}
	free()
	if err := os.WriteFile(filepath.Join(dir, "one"), make([]byte, 8192), 0o600); err != nil {
		t.Fatalf("write after freeing: %v", err)
	}
}
