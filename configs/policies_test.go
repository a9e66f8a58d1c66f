package configs_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/tousu/tousu/router"
)

// TestPolicyPacks loads every policy pack in policies/ (strict decoding and
// validation) and checks that each has a golden file.
func TestPolicyPacks(t *testing.T) {
	files, err := filepath.Glob("policies/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	packs := 0
	for _, f := range files {
		if strings.HasSuffix(f, ".golden.yaml") {
			continue
		}
		packs++
		if _, err := router.LoadEngine(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
		if _, _, err := router.LoadGolden(f); err != nil {
			t.Errorf("%s: golden tests: %v", f, err)
		}
	}
	if packs == 0 {
		t.Fatal("no policy packs")
	}
}
