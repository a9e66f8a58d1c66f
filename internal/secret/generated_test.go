package secret

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGenerated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	first, created, err := Generated(path, 24)
	if err != nil || !created || len(first) != 48 {
		t.Fatalf("first call: %q %v %v", first, created, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	again, created, err := Generated(path, 24)
	if err != nil || created || again != first {
		t.Errorf("second call: %q %v %v, want %q kept", again, created, err, first)
	}
	other, _, err := Generated(filepath.Join(t.TempDir(), "token"), 24)
	if err != nil || other == first {
		t.Errorf("another file: %q %v, want a fresh secret", other, err)
	}
	if err := os.WriteFile(path, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Generated(path, 24); err == nil || !strings.Contains(err.Error(), "is empty") {
		t.Errorf("emptied file: %v, want an error", err)
	}
	if _, _, err := Generated(filepath.Join(t.TempDir(), "missing", "token"), 24); err == nil {
		t.Error("no error for a directory that does not exist")
	}
}
