// Package smallfs gives a test a small file system of its own: a tmpfs of
// a chosen size mounted on a temporary folder, so that the test can fill
// the disk under the code it checks, and free it again.
//
// Mounting needs root. ./deploy/dev/test.sh sets TOUSU_TEST_SMALL_FS=1
// when it runs as root and a tmpfs can be mounted; without it a test
// that needs a small file system is skipped, or fails when
// TOUSU_REQUIRE_SERVERS=1, as for the real servers (internal/servertest).
package smallfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/tousu/tousu/internal/servertest"
)

// Server is the small file system as servertest names the things tests
// need from their machine.
var Server = servertest.Server{Env: "TOUSU_TEST_SMALL_FS",
	Hint: "1 when tests may mount small tmpfs file systems (as root; ./deploy/dev/test.sh sets it)"}

// Mount mounts a tmpfs of size bytes on a new temporary folder and
// returns the folder; the file system is unmounted when the test ends.
func Mount(tb testing.TB, size int64) string {
	tb.Helper()
	servertest.Require(tb, Server)
	dir := filepath.Join(tb.TempDir(), "small")
	if err := os.Mkdir(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0755", size)); err != nil {
		tb.Fatalf("mount a tmpfs of %d bytes on %s: %v", size, dir, err)
	}
	tb.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			tb.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// Fill writes a file into dir until its file system has no space left,
// and returns a function that deletes the file again.
func Fill(tb testing.TB, dir string) (free func()) {
	tb.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatalf("fill %s: %v", dir, err)
	}
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				tb.Fatalf("fill %s: %v", dir, err)
			}
			break
		}
	}
	// What is left is less than a page; take it byte by byte.
	for {
		if _, err := f.Write(chunk[:1]); err != nil {
			break
		}
	}
	if err := f.Close(); err != nil && !errors.Is(err, syscall.ENOSPC) {
		tb.Fatalf("fill %s: %v", dir, err)
	}
	return func() {
		tb.Helper()
		if err := os.Remove(path); err != nil {
			tb.Fatalf("free %s: %v", dir, err)
		}
	}
}
