package bleveindex

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/sinks/caseindex"
	"github.com/tousu/tousu/sinks/caseindex/caseindextest"
)

// extractVersion unpacks the fixture testdata/tousu-cases-<version>.tar.gz
// (see testdata/README.md) into dir and returns the index path.
func extractVersion(tb testing.TB, dir string, version int) string {
	tb.Helper()
	extract(tb, fmt.Sprintf("tousu-cases-%d.tar.gz", version), dir)
	return filepath.Join(dir, fmt.Sprintf("v%d.bleve", version))
}

// extract unpacks the tar.gz fixture in testdata into dir.
func extract(tb testing.TB, fixture, dir string) {
	tb.Helper()
	f, err := os.Open(filepath.Join("testdata", fixture))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		tb.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			tb.Fatal(err)
		}
		name := filepath.Join(dir, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(name, filepath.Clean(dir)+string(filepath.Separator)) {
			tb.Fatalf("tar entry %q leaves %s", h.Name, dir)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(name, 0o755); err != nil {
				tb.Fatal(err)
			}
		case tar.TypeReg:
			out, err := os.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
			if err != nil {
				tb.Fatal(err)
			}
			if _, err := io.Copy(out, tr); err != nil {
				tb.Fatal(err)
			}
			if err := out.Close(); err != nil {
				tb.Fatal(err)
			}
		}
	}
}

// storedVersion reads the mapping version an index directory records.
func storedVersion(tb testing.TB, path string) string {
	tb.Helper()
	idx, err := Open(Config{Path: path}, zap.NewNop())
	if err != nil {
		tb.Fatalf("Open(%s): %v", path, err)
	}
	defer idx.Close()
	v, err := idx.bleve.GetInternal(mappingVersionKey)
	if err != nil {
		tb.Fatal(err)
	}
	return string(v)
}

// checkUpgraded checks that the index at path holds the fixture's cases
// with the current mapping: the policy filters find them.
func checkUpgraded(t *testing.T, path string) {
	t.Helper()
	idx, closeIdx := openUpgraded(t, path)
	defer closeIdx()
	ctx := context.Background()
	c, err := idx.Get(ctx, "TS1")
	if err != nil {
		t.Fatalf("Get(TS1) after the upgrade: %v", err)
	}
	if c.Grade != "重大" || c.Route.Department != "网络部" || c.Revision != 1 || !c.Deadline.Equal(caseindextest.Base.Add(48*time.Hour)) {
		t.Errorf("TS1 after the upgrade: %+v", c)
	}
	tests := []struct {
		q    caseindex.Query
		want []string
	}{
		{caseindex.Query{}, []string{"TS3", "TS2", "TS1"}},
		{caseindex.Query{Filters: map[string]string{"grade": "重大"}}, []string{"TS1"}},
		{caseindex.Query{Filters: map[string]string{"validity": "invalid"}}, []string{"TS2"}},
		{caseindex.Query{Filters: map[string]string{"validity": "valid", "department": "网络部", "contact_type": "投诉"}}, []string{"TS1"}},
		{caseindex.Query{Filters: map[string]string{"source": "support@example.com", "queue": "billing-1"}}, []string{"TS2"}},
		{caseindex.Query{Filters: map[string]string{"pack": "telecom@1", "status": "resolved"}}, []string{"TS2"}},
		{caseindex.Query{Filters: map[string]string{"reference": "TS3"}}, []string{"TS3"}},
		{caseindex.Query{Text: "信号差", Sort: caseindex.SortDeadline}, []string{"TS1"}},
		{caseindex.Query{DueBefore: caseindextest.Base.Add(49 * time.Hour)}, []string{"TS1"}},
	}
	for _, tc := range tests {
		checkSearch(t, idx, tc.q, tc.want)
	}
	res, err := idx.Search(ctx, caseindex.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Facets["validity"]; got["valid"] != 1 || got["invalid"] != 1 || len(got) != 2 {
		t.Errorf("validity facet after the upgrade: %v", got)
	}
	// The stored revision still guards against stale writes.
	stale := c
	stale.Revision = 0
	stale.Grade = "一般"
	if err := idx.Upsert(ctx, []router.Case{stale}); err != nil {
		t.Fatal(err)
	}
	if got, _ := idx.Get(ctx, "TS1"); got.Grade != "重大" {
		t.Errorf("a stale write replaced the upgraded case: %+v", got)
	}
	for _, suffix := range []string{upgradeNewSuffix, upgradeOldSuffix} {
		if _, err := os.Stat(path + suffix); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is left over after the upgrade (stat: %v)", path+suffix, err)
		}
	}
}

// TestUpgradeFromVersion1 opens an index written by the previous version of
// tousu: Open rebuilds it with the current mapping, keeping every case.
func TestUpgradeFromVersion1(t *testing.T) {
	for _, page := range []int{1, 2, 3, 1000} {
		t.Run(fmt.Sprintf("page=%d", page), func(t *testing.T) {
			defer func(p int) { upgradePage = p }(upgradePage)
			upgradePage = page // the fixture's three cases over one or more pages
			checkUpgraded(t, extractVersion(t, t.TempDir(), 1))
		})
	}
	path := extractVersion(t, t.TempDir(), 1)
	checkUpgraded(t, path)
	// A second start finds the current version and opens it as it is.
	checkUpgraded(t, path)
}

func TestUpgradeInterrupted(t *testing.T) {
	t.Run("between the renames", func(t *testing.T) {
		dir := t.TempDir()
		path := extractVersion(t, dir, 1)
		// The new index is complete: build it by upgrading a copy.
		done := extractVersion(t, t.TempDir(), 1)
		if got := storedVersion(t, done); got != mappingVersion {
			t.Fatalf("upgraded copy has version %s", got)
		}
		if err := os.Rename(path, path+upgradeOldSuffix); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(done, path+upgradeNewSuffix); err != nil {
			t.Fatal(err)
		}
		checkUpgraded(t, path)
	})
	t.Run("while building", func(t *testing.T) {
		path := extractVersion(t, t.TempDir(), 1)
		if err := os.MkdirAll(filepath.Join(path+upgradeNewSuffix, "store"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(path+upgradeNewSuffix, "index_meta.json"), []byte("{partial"), 0o600); err != nil {
			t.Fatal(err)
		}
		checkUpgraded(t, path)
	})
	t.Run("before the old index was removed", func(t *testing.T) {
		path := extractVersion(t, t.TempDir(), 1)
		if got := storedVersion(t, path); got != mappingVersion {
			t.Fatalf("version %s", got)
		}
		if err := os.MkdirAll(path+upgradeOldSuffix, 0o755); err != nil {
			t.Fatal(err)
		}
		checkUpgraded(t, path)
	})
}

// TestUpgradeFailureLeavesIndex checks that an index whose cases cannot be
// read is left as it was, with an error saying so.
func TestUpgradeFailureLeavesIndex(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cases.bleve")
	idx, err := Open(Config{Path: path}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	// A document without the stored case, in an index that claims the
	// previous version.
	if err := idx.bleve.Index("broken", map[string]any{"id": "broken", fieldRevision: 1.0}); err != nil {
		t.Fatal(err)
	}
	if err := idx.bleve.SetInternal(mappingVersionKey, []byte(upgradable[0])); err != nil {
		t.Fatal(err)
	}
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = Open(Config{Path: path}, zaptest.NewLogger(t))
	if err == nil || !strings.Contains(err.Error(), "broken") || !strings.Contains(err.Error(), "left as it was") {
		t.Fatalf("Open of an index that cannot be upgraded: %v", err)
	}
	if _, err := os.Stat(path + upgradeNewSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the half-built index is left over: %v", err)
	}
	// Still the previous version, still refused the same way.
	if _, err := Open(Config{Path: path}, zap.NewNop()); err == nil || !strings.Contains(err.Error(), upgradable[0]) {
		t.Errorf("second Open: %v", err)
	}
}

// TestUpgradeFromVersion2 opens an index written with mapping version
// tousu-cases-2, which had no message_ids field: Open rebuilds it, its
// cases are kept and found as before, and a case written afterwards is
// found by its Message-IDs.
func TestUpgradeFromVersion2(t *testing.T) {
	path := extractVersion(t, t.TempDir(), 2)
	for pass := range 2 { // the second start opens the upgraded index as it is
		func() {
			idx, closeIdx := openUpgraded(t, path)
			defer closeIdx()
			ctx := context.Background()
			if pass == 0 {
				old, err := idx.Get(ctx, "TS2")
				if err != nil || old.Revision != 3 || old.MessageIDs != nil || !slices.Equal(old.References, []string{"TS2", "TS2B"}) {
					t.Fatalf("Get(TS2) after the upgrade: %+v, %v", old, err)
				}
				grown := old
				grown.Revision = 4
				grown.MessageIDs = []string{"m1@customer.example", "reply@colleague.example"}
				if err := idx.Upsert(ctx, []router.Case{grown}); err != nil {
					t.Fatal(err)
				}
			}
			tests := []struct {
				q    caseindex.Query
				want []string
			}{
				{caseindex.Query{}, []string{"TS3", "TS2", "TS1"}},
				{caseindex.Query{Filters: map[string]string{"message_id": "reply@colleague.example"}}, []string{"TS2"}},
				{caseindex.Query{Filters: map[string]string{"message_id": "m1@customer.example", "status": "resolved"}}, []string{"TS2"}},
				{caseindex.Query{Filters: map[string]string{"message_id": "m1@other.example"}}, nil},
				{caseindex.Query{Filters: map[string]string{"reference": "TS2B"}}, []string{"TS2"}},
				{caseindex.Query{Filters: map[string]string{"grade": "重大", "validity": "valid"}}, []string{"TS1"}},
				{caseindex.Query{Text: "宽带断网", Filters: map[string]string{"channel": "email"}}, []string{"TS3"}},
			}
			for _, tc := range tests {
				checkSearch(t, idx, tc.q, tc.want)
			}
		}()
	}
}

// openUpgraded opens the index at path, checks that it now carries the
// current mapping version, and returns it with the function closing it.
func openUpgraded(tb testing.TB, path string) (*Index, func()) {
	tb.Helper()
	idx, err := Open(Config{Path: path}, zaptest.NewLogger(tb))
	if err != nil {
		tb.Fatalf("Open(%s): %v", path, err)
	}
	if v, _ := idx.bleve.GetInternal(mappingVersionKey); string(v) != mappingVersion {
		tb.Errorf("mapping version %q after the upgrade, want %q", v, mappingVersion)
	}
	return idx, func() {
		if err := idx.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	}
}

// checkSearch fails unless the upgraded index finds exactly the cases
// want, in order.
func checkSearch(tb testing.TB, idx caseindex.Index, q caseindex.Query, want []string) {
	tb.Helper()
	res, err := idx.Search(context.Background(), q)
	if err != nil {
		tb.Fatal(err)
	}
	var got []string
	for _, h := range res.Hits {
		got = append(got, h.ID)
	}
	if !slices.Equal(got, want) {
		tb.Errorf("Search(%+v) after the upgrade = %v, want %v", q, got, want)
	}
}

// TestUpgradeFromVersion3 opens an index written with mapping version
// tousu-cases-3, whose Han runs ended at punctuation and spaces: Open
// rebuilds it, and its cases are found as before and now also by phrases
// that span the punctuation and spaces in their text.
func TestUpgradeFromVersion3(t *testing.T) {
	path := extractVersion(t, t.TempDir(), 3)
	for range 2 { // the second start opens the upgraded index as it is
		func() {
			idx, closeIdx := openUpgraded(t, path)
			defer closeIdx()
			old, err := idx.Get(context.Background(), "TS2")
			if err != nil || old.Revision != 3 || !slices.Equal(old.MessageIDs, []string{"m1@customer.example"}) || old.Description != "水、电费多扣了五十元" {
				t.Fatalf("Get(TS2) after the upgrade: %+v, %v", old, err)
			}
			tests := []struct {
				q    caseindex.Query
				want []string
			}{
				{caseindex.Query{}, []string{"TS3", "TS2", "TS1"}},
				{caseindex.Query{Filters: map[string]string{"message_id": "m1@customer.example"}}, []string{"TS2"}},
				{caseindex.Query{Filters: map[string]string{"reference": "TS2B", "status": "resolved"}}, []string{"TS2"}},
				{caseindex.Query{Filters: map[string]string{"grade": "重大", "validity": "valid"}}, []string{"TS1"}},
				{caseindex.Query{DueBefore: caseindextest.Base.Add(49 * time.Hour)}, []string{"TS1"}},
				// Found as before the upgrade.
				{caseindex.Query{Text: "信号"}, []string{"TS1"}},
				{caseindex.Query{Text: "差得很"}, []string{"TS1"}},
				{caseindex.Query{Text: "电费"}, []string{"TS2"}},
				{caseindex.Query{Text: "宽带断网", Filters: map[string]string{"channel": "email"}}, []string{"TS3"}},
				// Found only with the new mapping: across punctuation
				// (手机信号，差得很; 水、电费) and a space (两天 至今).
				{caseindex.Query{Text: "信号差"}, []string{"TS1"}},
				{caseindex.Query{Text: "水电费"}, []string{"TS2"}},
				{caseindex.Query{Text: "两天至今"}, []string{"TS3"}},
				// Quoted, still phrases.
				{caseindex.Query{Text: `"差信号"`}, nil},
				{caseindex.Query{Text: `"电水费"`}, nil},
			}
			for _, tc := range tests {
				checkSearch(t, idx, tc.q, tc.want)
			}
		}()
	}
}

// TestUpgradeFromVersion4 opens an index written with mapping version
// tousu-cases-4, which had no fields for the agents, the customer's name
// or the hotline's work order and no terms fields: Open rebuilds it, and
// its cases are then found by their owner, assignee and customer, and by
// the terms of their text apart.
func TestUpgradeFromVersion4(t *testing.T) {
	path := extractVersion(t, t.TempDir(), 4)
	for range 2 { // the second start opens the upgraded index as it is
		func() {
			idx, closeIdx := openUpgraded(t, path)
			defer closeIdx()
			tests := []struct {
				q    caseindex.Query
				want []string
			}{
				{caseindex.Query{}, []string{"TS3", "TS2", "TS1"}},
				{caseindex.Query{Filters: map[string]string{"status": "in_progress"}}, []string{"TS1"}},
				{caseindex.Query{Text: `"信号差"`}, []string{"TS1"}},
				// Found only with the new mapping: filters, and terms
				// apart, the exact phrase first.
				{caseindex.Query{Text: "信号差"}, []string{"TS1", "TS2"}},
				{caseindex.Query{Text: "信号很差"}, []string{"TS2", "TS1"}},
				{caseindex.Query{Text: "adsl"}, []string{"TS2"}},
				{caseindex.Query{Text: "打10086"}, []string{"TS1"}},
				{caseindex.Query{Filters: map[string]string{"owner": "张伟"}}, []string{"TS1"}},
				{caseindex.Query{Filters: map[string]string{"assignee": "王芳"}}, []string{"TS1"}},
				{caseindex.Query{Filters: map[string]string{"customer": "李明"}}, []string{"TS3"}},
				{caseindex.Query{Filters: map[string]string{"phone": "139 1234 0001"}}, []string{"TS1"}},
			}
			for _, tc := range tests {
				checkSearch(t, idx, tc.q, tc.want)
			}
		}()
	}
}
