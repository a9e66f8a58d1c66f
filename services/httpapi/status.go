package httpapi

import (
	"context"
	"strings"
	"time"

	"github.com/tousu/tousu/ingest/webform"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/sinks/caseindex"
)

// StatusSurveyTTL is how long the survey form on a status page takes an
// answer: the page was just shown to a customer who proved who they are.
const StatusSurveyTTL = 24 * time.Hour

// StatusLookup answers the customer status page from the index: what the
// case's pack lets the customer see (router.Engine.CustomerView) and,
// once the case is resolved, a survey token the page's satisfied / not
// satisfied form posts to the survey page, which Surveys answers.
type StatusLookup struct {
	Index caseindex.Index
	// Engine returns the engine of a pack by name (router.Packs.ByName),
	// nil for a pack no longer loaded.
	Engine func(name string) *router.Engine
	// Surveys signs the survey tokens; without a Key the page offers no
	// survey.
	Surveys SurveyBook
}

// LookupStatus implements webform.StatusLookup.
func (s StatusLookup) LookupStatus(ctx context.Context, reference string) (webform.CaseStatus, error) {
	if strings.TrimSpace(reference) == "" {
		// An empty filter does not filter: it would find any case.
		return webform.CaseStatus{}, webform.ErrUnknownReference
	}
	res, err := s.Index.Search(ctx, caseindex.Query{Filters: map[string]string{"reference": reference}, Limit: 1})
	if err != nil {
		return webform.CaseStatus{}, err
	}
	if len(res.Hits) == 0 {
		return webform.CaseStatus{}, webform.ErrUnknownReference
	}
	c := res.Hits[0]
	var eng *router.Engine
	if s.Engine != nil {
		eng = s.Engine(c.Pack)
	}
	v := eng.CustomerView(c)
	cs := webform.CaseStatus{
		Reference:   reference,
		Status:      v.Status,
		Category:    c.Category,
		ReceivedAt:  c.ReceivedAt,
		Result:      v.Result,
		Appeal:      v.Appeal,
		AppealBasis: v.AppealBasis,
		Phone:       c.Customer.Phone,
	}
	for _, st := range v.Steps {
		cs.Steps = append(cs.Steps, webform.StatusStep{Label: st.Label, Reached: st.Reached, At: st.At})
	}
	if v.HasDeadline {
		cs.Deadline = customerDeadline(v.Deadline)
	}
	if v.Answerable && len(s.Surveys.Key) > 0 {
		cs.Survey = router.SignSurvey(s.Surveys.Key, router.Survey{Case: c.ID, Reference: reference, Revision: c.Revision,
			Expires: s.Surveys.now().Add(StatusSurveyTTL)})
	}
	return cs, nil
}

// customerDeadline writes a customer-facing deadline as the status page
// shows it: "答复用户：2026年12月21日前", whether it was extended or waits
// for the customer's documents, and whether it was kept once the clock
// stopped.
func customerDeadline(d router.Deadline) string {
	s := router.ChineseDeadline(d.Due) + "前"
	if d.Title != "" {
		s = d.Title + "：" + s
	}
	if d.Extended > 0 {
		s += "（已延期）"
	}
	switch {
	case d.Paused():
		s += "（等待您补充材料，暂停计时，材料补齐后顺延）"
	case d.StoppedAt.IsZero():
	case d.Met:
		s += "（已按时完成）"
	default:
		s += "（已完成，超过时限）"
	}
	return s
}
