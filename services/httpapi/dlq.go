package httpapi

// This file is the dead-letter API: the entries of complaints.dlq a
// console replica follows (services/deadletters), one entry, and their
// replay: reading for the roles Role.MonitorsPipeline admits, the replay
// for those Role.TendsDeadLetters admits.

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.uber.org/zap"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/services/deadletters"
)

// PathDeadLetters is the dead-letter API's collection.
const PathDeadLetters = "/api/v1/ops/dlq"

// Limits of a list of dead letters.
const (
	DefaultDeadLetterLimit = 50
	MaxDeadLetterLimit     = 500
)

// excerptRunes bounds the masked payload of an entry in a list.
const excerptRunes = 300

// DeadLetters serves the dead-letter API and the console's dead-letter
// page the one way to show and replay entries.
type DeadLetters struct {
	store  *deadletters.Store
	auth   *Authenticator
	logger *zap.Logger
}

// NewDeadLetters returns the dead-letter API over store; it logs each
// full view and each replay (who, which entries) to logger.
func NewDeadLetters(store *deadletters.Store, auth *Authenticator, logger *zap.Logger) *DeadLetters {
	return &DeadLetters{store: store, auth: auth, logger: logger}
}

// Mount registers GET PathDeadLetters and GET PathDeadLetters/{id} for
// the roles Role.MonitorsPipeline admits and POST PathDeadLetters/replay
// for those Role.TendsDeadLetters admits.
func (d *DeadLetters) Mount(app fiber.Router) {
	read := d.auth.Require(Role.MonitorsPipeline)
	app.Get(PathDeadLetters, read, d.list)
	app.Post(PathDeadLetters+"/replay", d.auth.Require(Role.TendsDeadLetters), d.replay)
	app.Get(PathDeadLetters+"/:id", read, d.get)
}

// DeadLetterItem is an entry of a list: its summary, its key and the
// start of its payload, masked.
type DeadLetterItem struct {
	deadletters.Summary
	Key     string `json:"key"`
	Excerpt string `json:"excerpt"`
}

// DeadLetterList is what a list answers.
type DeadLetterList struct {
	deadletters.Page
	Entries []DeadLetterItem `json:"entries"`
}

// List returns the entries f selects, newest first, at most limit, with
// their payloads masked, and the counts.
func (d *DeadLetters) List(f deadletters.Filter, limit int) DeadLetterList {
	p := d.store.List(f, limit)
	out := DeadLetterList{Page: p, Entries: make([]DeadLetterItem, len(p.Entries))}
	for i, e := range p.Entries {
		out.Entries[i] = DeadLetterItem{Summary: e.Summary(), Key: e.MaskedKey(), Excerpt: e.MaskedExcerpt(excerptRunes)}
	}
	return out
}

// DeadLetterView is one entry as Show gives it: masked, or in full (Full).
type DeadLetterView struct {
	deadletters.Summary
	Key     string            `json:"key"`
	Headers map[string]string `json:"headers,omitempty"`
	Payload string            `json:"payload"`
	Full    bool              `json:"full"`
	// Replayable says why the entry cannot be replayed; empty when it can.
	Replayable string `json:"not_replayable,omitempty"`
	// Partition and Offset locate the original on its topic.
	Partition int   `json:"partition"`
	Offset    int64 `json:"offset"`
}

// Show returns entry id for p: in full when full is asked and p's role
// sees payloads (Role.SeesDeadLetterPayloads), and then it logs who saw
// which entry; masked otherwise. ok is false for an id no kept entry has.
func (d *DeadLetters) Show(p Principal, id string, full bool) (v DeadLetterView, ok bool) {
	e, ok := d.store.Get(id)
	if !ok {
		return v, false
	}
	v = DeadLetterView{Summary: e.Summary(), Replayable: e.Replayable(), Partition: e.Partition, Offset: e.Offset}
	if full && p.Role.SeesDeadLetterPayloads() {
		d.logger.Info("dead letter shown in full", zap.String("by", p.Name), zap.String("entry", id), zap.String("topic", e.Topic))
		v.Full, v.Key, v.Payload, v.Headers = true, string(e.Key), e.Payload(), e.Headers
		return v, true
	}
	v.Key, v.Payload = e.MaskedKey(), e.MaskedPayload()
	for k, h := range e.Headers {
		if v.Headers == nil {
			v.Headers = map[string]string{}
		}
		v.Headers[k] = ingest.MaskText(h)
	}
	return v, true
}

// Select is the ids of the kept entries f selects that a replay would
// send (deadletters.Store.Select).
func (d *DeadLetters) Select(f deadletters.Filter) []string { return d.store.Select(f) }

// ReplayRequest is the body of a replay: ids, or a filter (every kept
// entry it selects that was not replayed yet).
type ReplayRequest struct {
	IDs []string `json:"ids"`
	deadletters.Filter
}

// ErrNothingToReplay is the error of a replay that names neither ids nor
// a filter: replaying every dead letter is never what is meant.
var ErrNothingToReplay = errors.New("请指定要重放的死信编号（ids）或筛选条件（source、reason）")

// Replay replays what req names as p and logs who replayed which entries:
// by filter, the oldest deadletters.MaxReplay entries it selects. Its
// errors are ErrNothingToReplay and deadletters.ErrTooMany.
func (d *DeadLetters) Replay(ctx context.Context, p Principal, req ReplayRequest) ([]deadletters.Outcome, error) {
	ids := req.IDs
	if len(ids) == 0 {
		if req.Filter == (deadletters.Filter{}) {
			return nil, ErrNothingToReplay
		}
		ids = d.Select(req.Filter)
		ids = ids[:min(len(ids), deadletters.MaxReplay)]
	}
	out, err := d.store.Replay(ctx, p.Name, ids)
	if err != nil {
		return nil, err
	}
	counts := map[string]int{}
	for _, o := range out {
		counts[o.Status]++
	}
	d.logger.Info("dead letters replayed", zap.String("by", p.Name), zap.Strings("entries", ids), zap.Any("statuses", counts))
	return out, nil
}

// list answers GET PathDeadLetters?source=&reason=&limit=.
func (d *DeadLetters) list(c *fiber.Ctx) error {
	limit := DefaultDeadLetterLimit
	if s := c.Query("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxDeadLetterLimit {
			return fail(c, fiber.StatusBadRequest, apiError{Error: "limit must be a number from 1 to 500", Code: "bad_request", Field: "limit",
				Message: "limit 须为 1 到 500 之间的整数"})
		}
		limit = n
	}
	return c.JSON(d.List(deadletters.Filter{Source: c.Query("source"), Reason: c.Query("reason")}, limit))
}

// get answers GET PathDeadLetters/{id}: in full for ops (audited),
// masked for the others; 404 for an id no kept entry has.
func (d *DeadLetters) get(c *fiber.Ctx) error {
	v, ok := d.Show(PrincipalOf(c), c.Params("id"), true)
	if !ok {
		return fail(c, fiber.StatusNotFound, errNoDeadLetter)
	}
	return c.JSON(v)
}

// errNoDeadLetter is the answer for an id no kept entry has.
var errNoDeadLetter = apiError{Error: "no dead letter with this id", Code: "dead_letter_not_found",
	Message: "没有这条死信（编号有误，或已超出本副本保留的条数）"}

// replay answers POST PathDeadLetters/replay: 200 with an outcome per
// entry, 400 for a body that names nothing or too much.
func (d *DeadLetters) replay(c *fiber.Ctx) error {
	var req ReplayRequest
	if err := json.Unmarshal(c.Body(), &req); err != nil {
		return fail(c, fiber.StatusBadRequest, apiError{Error: "the body is not a JSON replay", Code: "bad_request",
			Message: `请求内容不是有效的 JSON，如 {"ids":["0-12"]} 或 {"source":"complaints.raw","reason":"…"}`})
	}
	out, err := d.Replay(c.UserContext(), PrincipalOf(c), req)
	if err != nil {
		return fail(c, fiber.StatusBadRequest, apiError{Error: "nothing or too much to replay", Code: "bad_request", Message: err.Error()})
	}
	n := 0
	for _, o := range out {
		if o.Status == deadletters.StatusReplayed {
			n++
		}
	}
	answer := fiber.Map{"replayed": n, "results": out, "at": time.Now().UTC()}
	if len(req.IDs) == 0 {
		// A filter that selects more than one replay sends: the rest.
		answer["remaining"] = len(d.Select(req.Filter))
	}
	return c.JSON(answer)
}
