package httpapi

import (
	"context"
	"errors"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"
	"go.uber.org/zap"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/ingest/webform"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/sinks/caseindex"
)

// Console serves the agent console API over the case index.
type Console struct {
	index  caseindex.Index
	auth   *Authenticator
	logger *zap.Logger
}

// NewConsole returns the console API over an index.
func NewConsole(index caseindex.Index, auth *Authenticator, logger *zap.Logger) *Console {
	return &Console{index: index, auth: auth, logger: logger}
}

// Mount registers GET /api/v1/cases (search) and GET /api/v1/cases/:id,
// both for tokens whose role may search.
func (k *Console) Mount(app fiber.Router) {
	search := k.auth.Require(Role.MaySearch)
	app.Get("/api/v1/cases", search, k.search)
	app.Get("/api/v1/cases/:id", search, k.get)
}

func (k *Console) search(c *fiber.Ctx) error {
	values := url.Values{}
	c.Context().QueryArgs().VisitAll(func(key, value []byte) {
		values.Add(string(key), string(value))
	})
	q, err := caseindex.ParseQuery(values)
	if err != nil {
		// param and message (Simplified Chinese) let the console show which
		// parameter is wrong; ParseQuery's errors are all *ParamError.
		body := fiber.Map{"error": err.Error()}
		var pe *caseindex.ParamError
		if errors.As(err, &pe) {
			body["param"], body["message"] = pe.Param, pe.Message
		}
		return c.Status(fiber.StatusBadRequest).JSON(body)
	}
	res, err := k.index.Search(c.UserContext(), q)
	if err != nil {
		k.logger.Error("search failed", zap.Error(err))
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"error": "search is unavailable, try again"})
	}
	role := PrincipalOf(c).Role
	for i := range res.Hits {
		res.Hits[i] = redact(res.Hits[i], role)
	}
	if res.Hits == nil {
		res.Hits = []router.Case{}
	}
	return c.JSON(res)
}

func (k *Console) get(c *fiber.Ctx) error {
	cs, err := k.index.Get(c.UserContext(), c.Params("id"))
	switch {
	case errors.Is(err, caseindex.ErrNotFound):
		return c.Status(fiber.StatusNotFound).JSON(fiber.Map{"error": "no case with this id"})
	case err != nil:
		k.logger.Error("get case failed", zap.Error(err))
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"error": "search is unavailable, try again"})
	}
	return c.JSON(redact(cs, PrincipalOf(c).Role))
}

// redact masks what the role may not see.
func redact(c router.Case, role Role) router.Case {
	if !role.SeesContacts() && c.Customer.Phone != "" {
		c.Customer.Phone = ingest.MaskPhone(c.Customer.Phone)
	}
	return c
}

// StatusLookup answers the customer status page from the index.
type StatusLookup struct {
	Index caseindex.Index
}

var statusLabels = map[router.Status]string{
	router.StatusOpen:       "已受理",
	router.StatusInProgress: "处理中",
	router.StatusResolved:   "已办结",
	router.StatusClosed:     "已关闭",
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
	return webform.CaseStatus{
		Reference:  reference,
		Status:     statusLabels[c.Status],
		Category:   c.Category,
		ReceivedAt: c.ReceivedAt,
		Deadline:   c.Deadline,
		Phone:      c.Customer.Phone,
	}, nil
}
