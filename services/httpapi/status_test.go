package httpapi

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/sinks/bleveindex"
	"github.com/tousu/tousu/sinks/caseindex/caseindextest"
)

// TestStatusLookupKeepsIssuedReferences checks that references issued
// before they were keyed stay valid: the status page finds a case by the
// reference stored on it, however it was derived, including the keyed
// reference of a later complaint joined to an old case.
func TestStatusLookupKeepsIssuedReferences(t *testing.T) {
	idx, err := bleveindex.Open(bleveindex.Config{Path: filepath.Join(t.TempDir(), "cases.bleve")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	refs := ingest.NewReferences([]byte("the installation's reference key"))
	oldID, newID, laterID := ingest.NewID(ingest.ChannelHotline, "hotline", "GD001"), ingest.NewID(ingest.ChannelHotline, "hotline", "GD002"), ingest.NewID(ingest.ChannelHotline, "hotline", "GD003")
	old := ingest.ReferenceFor(oldID) // as issued before the upgrade
	issued := map[string]string{
		"issued before the upgrade":           old,
		"issued after":                        refs.For(newID),
		"a later complaint joined to the old": refs.For(laterID),
	}
	cases := []router.Case{
		caseindextest.NewCase(t, old, func(c *router.Case) {
			c.References, c.Complaints = []string{old, issued["a later complaint joined to the old"]}, []string{oldID, laterID}
		}),
		caseindextest.NewCase(t, issued["issued after"], func(c *router.Case) {
			c.References, c.Complaints = []string{issued["issued after"]}, []string{newID}
		}),
	}
	if err := idx.Upsert(context.Background(), cases); err != nil {
		t.Fatal(err)
	}
	lookup := StatusLookup{Index: idx}
	for name, ref := range issued {
		t.Run(name, func(t *testing.T) {
			cs, err := lookup.LookupStatus(context.Background(), ref)
			if err != nil || cs.Reference != ref || cs.Phone != "+8613800138000" {
				t.Fatalf("LookupStatus(%s) = %+v, %v", ref, cs, err)
			}
		})
	}
}
