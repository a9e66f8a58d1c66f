package httpapi

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tousu/tousu/ingest/webform"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/sinks/caseindex"
)

// SurveyBook answers the follow-up survey page (webform.SurveyBook) from
// the index: a token signed with Key (router.SignSurvey) names a case, and
// an answer becomes the follow-up action on case.actions
// (router.SurveyAnswer), which closes or reopens the case by the pack's
// rule. A survey takes an answer while its case is resolved and has none
// yet; the router applies an answer once (its id names the survey).
type SurveyBook struct {
	Index caseindex.Index
	// Key verifies survey tokens; it must be the key the routers sign them
	// with (the server secret's key.Derive("survey")).
	Key []byte
	// Publish writes an action to case.actions keyed by its Customer and
	// returns once the broker acknowledged it.
	Publish func(ctx context.Context, a router.Action) error
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

func (b SurveyBook) now() time.Time {
	if b.Now == nil {
		return time.Now()
	}
	return b.Now()
}

// open returns the survey of token, its case, and whether it takes an
// answer.
func (b SurveyBook) open(ctx context.Context, token string) (router.Survey, router.Case, bool, error) {
	s, err := router.OpenSurvey(b.Key, token, b.now())
	if err != nil {
		return s, router.Case{}, false, fmt.Errorf("%w: %w", webform.ErrSurveyUnknown, err)
	}
	c, err := b.Index.Get(ctx, s.Case)
	switch {
	case errors.Is(err, caseindex.ErrNotFound):
		return s, c, false, fmt.Errorf("%w: case %s is not in the index", webform.ErrSurveyUnknown, s.Case)
	case err != nil:
		return s, c, false, err
	}
	answer := router.SurveyAnswer(s, c.Customer.Key, true, "", time.Time{})
	return s, c, c.Status == router.StatusResolved && !c.Applied(answer.ID), nil
}

// LookupSurvey implements webform.SurveyBook.
func (b SurveyBook) LookupSurvey(ctx context.Context, token string) (webform.SurveyCase, error) {
	s, c, open, err := b.open(ctx, token)
	if err != nil {
		return webform.SurveyCase{}, err
	}
	return webform.SurveyCase{Reference: s.Reference, Status: c.Status.Label(), Category: c.Category, Open: open}, nil
}

// AnswerSurvey implements webform.SurveyBook.
func (b SurveyBook) AnswerSurvey(ctx context.Context, token string, satisfied bool, comment string) error {
	s, c, open, err := b.open(ctx, token)
	switch {
	case err != nil:
		return err
	case !open:
		return webform.ErrSurveyClosed
	}
	return b.Publish(ctx, router.SurveyAnswer(s, c.Customer.Key, satisfied, comment, b.now()))
}
