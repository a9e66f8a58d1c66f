package httpapi

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/tousu/tousu/ingest/webform"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/sinks/bleveindex"
	"github.com/tousu/tousu/sinks/caseindex/caseindextest"
)

// TestSurveyBook checks the survey page's book against a real index: a
// signed link to a resolved case takes one answer, which becomes the
// follow-up action keyed by the case's customer; forged, expired and
// unknown links and finished surveys take none.
func TestSurveyBook(t *testing.T) {
	idx, err := bleveindex.Open(bleveindex.Config{Path: filepath.Join(t.TempDir(), "cases.bleve")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	now := time.Date(2026, 3, 12, 12, 0, 0, 0, time.UTC)
	resolved := caseindextest.NewCase(t, "C1", func(c *router.Case) { c.Status, c.Revision, c.Category = router.StatusResolved, 6, "网络问题" })
	open := caseindextest.NewCase(t, "C2")
	answered := caseindextest.NewCase(t, "C3", func(c *router.Case) { c.Status, c.Revision = router.StatusResolved, 9 })
	key := []byte("survey key of the installation..")
	sign := func(c router.Case, n int64, expires time.Time) string {
		return router.SignSurvey(key, router.Survey{Case: c.ID, Reference: c.References[0], Revision: n, Expires: expires})
	}
	answered.History = append(answered.History, router.Event{Action: router.SurveyAnswer(router.Survey{Case: "C3", Revision: 9}, "", true, "", now).ID, Kind: router.ActionClose})
	if err := idx.Upsert(context.Background(), []router.Case{resolved, open, answered}); err != nil {
		t.Fatal(err)
	}
	var published []router.Action
	book := SurveyBook{Index: idx, Key: key, Now: func() time.Time { return now },
		Publish: func(_ context.Context, a router.Action) error { published = append(published, a); return nil }}
	later := now.Add(7 * 24 * time.Hour)
	tests := []struct {
		name   string
		token  string
		open   bool
		err    error
		answer bool
	}{
		{"resolved case", sign(resolved, 6, later), true, nil, true},
		{"open case", sign(open, 1, later), false, webform.ErrSurveyClosed, false},
		{"answered", sign(answered, 9, later), false, webform.ErrSurveyClosed, false},
		{"expired", sign(resolved, 6, now), false, webform.ErrSurveyUnknown, false},
		{"another key", router.SignSurvey([]byte("not the key"), router.Survey{Case: "C1", Revision: 6, Expires: later}), false, webform.ErrSurveyUnknown, false},
		{"unknown case", router.SignSurvey(key, router.Survey{Case: "C404", Revision: 1, Expires: later}), false, webform.ErrSurveyUnknown, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			published = nil
			sc, err := book.LookupSurvey(context.Background(), tt.token)
			if tt.err == webform.ErrSurveyUnknown {
				if !errors.Is(err, webform.ErrSurveyUnknown) {
					t.Fatalf("LookupSurvey = %v, want ErrSurveyUnknown", err)
				}
			} else if err != nil || sc.Open != tt.open {
				t.Fatalf("LookupSurvey = %+v, %v; want open %v", sc, err, tt.open)
			}
			err = book.AnswerSurvey(context.Background(), tt.token, false, "装维师傅没有上门")
			if tt.err != nil && !errors.Is(err, tt.err) || tt.err == nil && err != nil {
				t.Fatalf("AnswerSurvey = %v, want %v", err, tt.err)
			}
			if got := len(published) == 1; got != tt.answer {
				t.Fatalf("published %+v", published)
			}
			if tt.answer {
				a := published[0]
				if a.Kind != router.ActionReopen || a.Customer != resolved.Customer.Key || a.Case != "C1" || a.Actor != router.SurveyActor {
					t.Fatalf("answer %+v", a)
				}
			}
		})
	}
}
