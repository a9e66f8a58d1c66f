package router

import (
	"bytes"
	"path/filepath"
	"testing"
)

// TestGolden runs every pack's golden file in configs/policies, as
// `tousu policy test` does.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("../configs/policies/*.golden.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			var out bytes.Buffer
			passed, failed, err := TestPack(f, &out)
			if err != nil || failed > 0 || passed < 30 {
				t.Errorf("%s: %d passed, %d failed, err %v (want at least 30 cases, all passing)\n%s", f, passed, failed, err, out.String())
				return
			}
			t.Logf("%s", out.String())
		})
	}
}
