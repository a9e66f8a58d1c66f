package httpapi

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.uber.org/zap"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/normalize"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/sinks/caseindex"
)

// Console serves the agent console API over the case index.
type Console struct {
	index  caseindex.Index
	auth   *Authenticator
	logger *zap.Logger
	acts   *CaseActions // nil: no actions
	// customerKey is the HMAC key of the opaque tokens that stand for
	// customer keys in what the console returns.
	customerKey []byte
}

// CaseActions is what the console needs to accept actions on cases.
type CaseActions struct {
	// Publish writes an action to the case.actions topic keyed by its
	// Customer and returns once the broker acknowledged it.
	Publish func(ctx context.Context, a router.Action) error
	// Engine returns the engine of a case's pack, to refuse at once an
	// action the case (as indexed) does not allow; nil when not loaded.
	Engine func(pack string) *router.Engine
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Result returns what a router told of an action (case.outcomes),
	// and false when none has yet; nil: the console learns results from
	// the cases' histories only.
	Result func(actionID string) (router.ActionResult, bool)
}

// NewConsole returns the console API over an index; acts may be nil, and
// then the console only searches. customerKey keys the opaque tokens that
// replace customer keys in every case it returns (see CustomerToken); it
// must be the same on every console replica, e.g. the server secret's
// key.Derive("customer").
func NewConsole(index caseindex.Index, auth *Authenticator, acts *CaseActions, customerKey []byte, logger *zap.Logger) *Console {
	return &Console{index: index, auth: auth, acts: acts, logger: logger, customerKey: customerKey}
}

// Mount registers GET /api/v1/cases (search), GET PathExport (the search
// as CSV) and GET /api/v1/cases/:id, all for tokens whose role may
// search, and, with actions, POST /api/v1/cases/:id/actions, POST
// /api/v1/cases/:id/reveal (reveal.go) and GET
// /api/v1/cases/:id/actions/:action (what became of an action) for the
// same tokens.
func (k *Console) Mount(app fiber.Router) {
	search := k.auth.Require(Role.MaySearch)
	app.Get("/api/v1/cases", search, k.search)
	app.Get(PathExport, search, k.export) // before :id, which would match it
	app.Get("/api/v1/cases/:id", search, k.get)
	if k.acts != nil {
		app.Post("/api/v1/cases/:id/actions", search, k.act)
		app.Post("/api/v1/cases/:id/reveal", search, k.reveal)
		app.Get("/api/v1/cases/:id/actions/:action", search, k.actionResult)
	}
}

// ActionRequest is what a person asks to do to a case: the body of POST
// /api/v1/cases/:id/actions, and the console page's action forms.
type ActionRequest struct {
	Kind       router.ActionKind `json:"kind"`
	Assignee   string            `json:"assignee"`
	Department string            `json:"department"`
	Queue      string            `json:"queue"`
	Event      string            `json:"event"`
	Category   string            `json:"category"`
	Note       string            `json:"note"`
	// Field is the contact a reveal shows (router.RevealFields).
	Field string `json:"field"`
	// Grade is the grade a regrade corrects to, Valid the validity a
	// revalidate corrects to; the reason of either is in Note.
	Grade string `json:"grade"`
	Valid *bool  `json:"valid"`
	// CustomerVisible shows a resolve's result (Note) to the customer on
	// the status page; it stays internal otherwise.
	CustomerVisible bool `json:"customer_visible"`
	// Clock is the clock an extend, pause or resume action changes (for
	// pause and resume, empty: every clock the pack lets pause), Amount
	// how far an extend moves it, in the unit of the pack's bound.
	Clock  string `json:"clock"`
	Amount int    `json:"amount"`
	// Actor is the agent an admin token (an integration such as a CRM)
	// acts for; other tokens act as themselves.
	Actor string `json:"actor"`
}

// apiError is the body of every error the console API and the auth
// middleware answer: Error in English for logs and older clients, Code
// stable for programs, Message in Simplified Chinese for the person, and
// Field the request field at fault, when one is.
type apiError struct {
	Error   string `json:"error"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	// Status is the case's status, on a refusal because of it (409).
	Status router.Status `json:"status,omitempty"`
}

// fail answers an error with status.
func fail(c *fiber.Ctx, status int, e apiError) error {
	return c.Status(status).JSON(e)
}

// The errors every console route may answer.
var (
	errNoCase = apiError{Error: "no case with this id", Code: "case_not_found", Message: "没有该工单，请核对工单编号"}
	errIndex  = apiError{Error: "the case index is unavailable, try again", Code: "index_unavailable", Message: "工单查询暂时不可用，请稍后重试"}
)

// mayTakeOver reports whether the role may take over or pass on a case
// another agent holds (router.Action.Override).
func mayTakeOver(r Role) bool { return r == RoleAdmin || r == RoleSupervisor }

// act accepts an action on a case: 202 with the action's id once the
// broker has it (the router applies it within moments; GET the case to
// see it), 404 for an unknown case, and the errors of CaseActions.Submit.
// Every error carries a code and a Chinese message. An Idempotency-Key
// header makes a retried request the same action.
func (k *Console) act(c *fiber.Ctx) error {
	var req ActionRequest
	if err := json.Unmarshal(c.Body(), &req); err != nil {
		return fail(c, fiber.StatusBadRequest, apiError{Error: "the body is not a JSON action", Code: "bad_request", Message: "请求内容不是有效的操作（JSON）"})
	}
	key := c.Get("Idempotency-Key")
	if key != "" && !ingest.ValidIdempotencyKey(key) {
		return fail(c, fiber.StatusBadRequest, apiError{Error: "Idempotency-Key must be 1-128 printable ASCII characters", Code: "bad_idempotency_key",
			Message: "Idempotency-Key 须为 1 至 128 个可打印 ASCII 字符"})
	}
	cs, ok, err := k.caseOf(c)
	if !ok {
		return err
	}
	a, err := k.acts.Submit(c.UserContext(), PrincipalOf(c), cs, req, key, k.auth.Knows)
	var ae *ActionError
	if errors.As(err, &ae) {
		if ae.Status == fiber.StatusServiceUnavailable {
			k.logger.Error("publish case action failed", zap.String("case", cs.ID), zap.Error(ae))
			c.Set(fiber.HeaderRetryAfter, "5")
		}
		return fail(c, ae.Status, ae.body)
	}
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"action": a.ID, "case": cs.ID, "kind": a.Kind,
		"result": "/api/v1/cases/" + url.PathEscape(cs.ID) + "/actions/" + url.PathEscape(a.ID)})
}

// ActionError is why CaseActions.Submit did not send an action: the HTTP
// status to answer and the error for the person, with its stable code.
type ActionError struct {
	// Status is 422 for an invalid action, 409 for one the case's current
	// state does not allow, 503 when the broker did not take it.
	Status int
	body   apiError
}

// Error is the error in English, for logs.
func (e *ActionError) Error() string { return e.body.Error }

// Code is the error's stable code (router.Reason's, or
// "broker_unavailable").
func (e *ActionError) Code() string { return e.body.Code }

// Message says the error in Simplified Chinese.
func (e *ActionError) Message() string { return e.body.Message }

// Field is the request's field at fault, when one is.
func (e *ActionError) Field() string { return e.body.Field }

// refusal is the ActionError of an action router refuses (router.ReasonOf):
// 409 with the case's status when its current state refuses the action,
// 422 when the action itself is wrong.
func refusal(err error, status router.Status) *ActionError {
	r := router.ReasonOf(err)
	e := apiError{Error: err.Error(), Code: r.Code, Message: r.Message, Field: r.Field}
	if r.Conflict {
		e.Status = status
		return &ActionError{Status: fiber.StatusConflict, body: e}
	}
	return &ActionError{Status: fiber.StatusUnprocessableEntity, body: e}
}

// Submit checks what p asks to do to case cs and sends it to the case's
// router, returning the action once the broker has it. It is the one path
// of every action people send, from the API and the console's pages. An
// error is an *ActionError: 422 for an invalid action (a field over its
// bound, a resolve or close without its note, an actor or assignee that
// knows says is no account, a department or queue the case's pack does
// not route to), 409 for one the case's current state does not allow (a
// case another agent holds: only a supervisor or admin takes it over),
// 503 when the broker did not take it. A non-empty idempotencyKey makes
// a retried request the same action.
func (acts *CaseActions) Submit(ctx context.Context, p Principal, cs router.Case, req ActionRequest, idempotencyKey string, knows func(name string) bool) (router.Action, error) {
	if req.Kind == router.ActionReveal { // audits a contact shown: Reveal shows it
		return router.Action{}, &ActionError{Status: fiber.StatusUnprocessableEntity, body: apiError{Error: "a reveal is asked of the reveal route, which answers the value",
			Code: router.CodeKind, Field: "kind", Message: "查看客户联系方式请使用“查看”按钮或 POST /api/v1/cases/{id}/reveal"}}
	}
	return acts.submit(ctx, p, cs, req, idempotencyKey, knows)
}

// submit is Submit for every kind of action people send.
func (acts *CaseActions) submit(ctx context.Context, p Principal, cs router.Case, req ActionRequest, idempotencyKey string, knows func(name string) bool) (router.Action, error) {
	actor := p.Name
	if req.Actor != "" && p.Role == RoleAdmin {
		actor = req.Actor
	}
	now := time.Now
	if acts.Now != nil {
		now = acts.Now
	}
	a := router.Action{
		V: router.ActionVersion, ID: actionID(p.Name, cs.ID, idempotencyKey), Case: cs.ID, Customer: cs.Customer.Key, Kind: req.Kind,
		Actor: actor, At: now().UTC(), Assignee: req.Assignee, Department: req.Department, Queue: req.Queue,
		Event: req.Event, Category: req.Category, Note: req.Note, Field: req.Field, Grade: req.Grade, Valid: req.Valid,
		CustomerVisible: req.CustomerVisible, Clock: req.Clock, Amount: req.Amount,
		// An admin acting for an agent acts with the agent's rights.
		Override: actor == p.Name && mayTakeOver(p.Role),
	}
	if err := router.CheckAgentAction(a); err != nil {
		return a, refusal(err, cs.Status)
	}
	for _, f := range []struct{ field, name string }{{"actor", a.Actor}, {"assignee", a.Assignee}} {
		if f.name != "" && f.name != p.Name && !knows(f.name) {
			return a, &ActionError{Status: fiber.StatusUnprocessableEntity, body: apiError{Error: fmt.Sprintf("%s %q is not an account", f.field, f.name), Code: router.CodeUnknownAccount,
				Field: f.field, Message: fmt.Sprintf("%s不是系统中的坐席账号：“%s”", router.FieldLabel(f.field), f.name)}}
		}
	}
	if e := acts.engine(cs.Pack); e != nil {
		if _, _, _, err := e.Apply(cs, a); err != nil {
			return a, refusal(err, cs.Status)
		}
	}
	if err := acts.Publish(ctx, a); err != nil {
		return a, &ActionError{Status: fiber.StatusServiceUnavailable, body: apiError{Error: fmt.Sprintf("the action could not be queued, try again: %v", err),
			Code: "broker_unavailable", Message: "操作暂时无法提交，请稍后重试"}}
	}
	return a, nil
}

// ActionStatus is what became of an action: the answer of GET
// /api/v1/cases/:id/actions/:action, and what the console's case page
// shows after an action.
type ActionStatus struct {
	Action string             `json:"action"`
	Case   string             `json:"case"`
	Kind   router.ActionKind  `json:"kind,omitempty"`
	State  router.ActionState `json:"state"`
	// Revision is a revision of the case that has the action (applied).
	Revision int64 `json:"revision,omitempty"`
	// Code and Field are the refusal's (router.Reason).
	Code  string `json:"code,omitempty"`
	Field string `json:"field,omitempty"`
	// Message says the state in Chinese: the reason of a refusal.
	Message string `json:"message"`
}

// actionResult answers what became of an action on a case
// (CaseActions.StatusOf); 404 for an unknown case.
func (k *Console) actionResult(c *fiber.Ctx) error {
	cs, ok, err := k.caseOf(c)
	if !ok {
		return err
	}
	return c.JSON(k.acts.StatusOf(cs, c.Params("action")))
}

// StatusOf is what became of the action id on case cs: pending (no router
// has decided it yet), applied with the case's revision that has it, or
// refused with the reason, from what the routers told (Result) or else
// from the case's history.
func (acts *CaseActions) StatusOf(cs router.Case, id string) ActionStatus {
	r := router.ResultFromCase(cs, id)
	if acts.Result != nil && r.State != router.ActionApplied {
		if told, ok := acts.Result(id); ok && told.Case == cs.ID {
			r = told
		}
	}
	st := ActionStatus{Action: id, Case: cs.ID, Kind: r.Kind, State: r.State, Revision: r.Revision}
	switch {
	case r.State == router.ActionRefused && r.Reason != nil:
		st.Code, st.Field, st.Message = r.Reason.Code, r.Reason.Field, r.Reason.Message
	case r.State == router.ActionRefused:
		st.Message = "操作未被执行"
	case r.State == router.ActionApplied:
		st.Message = fmt.Sprintf("操作已生效（工单第 %d 版）", r.Revision)
	default:
		st.Message = "操作已提交，正在处理"
	}
	return st
}

// caseOf returns the case the request's :id names; when it cannot, ok
// is false and err is its answer, 404 for an unknown case or 503.
func (k *Console) caseOf(c *fiber.Ctx) (cs router.Case, ok bool, err error) {
	id := c.Params("id")
	cs, err = FindCase(c.UserContext(), k.index, id)
	switch {
	case errors.Is(err, caseindex.ErrNotFound) || err == nil && !PrincipalOf(c).MaySee(cs):
		// A case the principal may not see is answered as one that does
		// not exist: the answer does not confirm it does.
		return cs, false, fail(c, fiber.StatusNotFound, errNoCase)
	case err != nil:
		k.logger.Error("get case failed", zap.String("case", id), zap.Error(err))
		return cs, false, fail(c, fiber.StatusServiceUnavailable, errIndex)
	}
	return cs, true, nil
}

// FindCase returns the case id names: the case with that id, or else the
// case that holds id among its references (the complaint joined it as a
// duplicate, a repeat or a reply, and its customer still quotes their own
// reference). caseindex.ErrNotFound when there is none.
func FindCase(ctx context.Context, index caseindex.Index, id string) (router.Case, error) {
	cs, err := index.Get(ctx, id)
	if !errors.Is(err, caseindex.ErrNotFound) {
		return cs, err
	}
	res, err := index.Search(ctx, caseindex.Query{Filters: map[string]string{"reference": id}, Limit: 1})
	if err != nil {
		return router.Case{}, err
	}
	if len(res.Hits) == 0 {
		return router.Case{}, caseindex.ErrNotFound
	}
	return res.Hits[0], nil
}

// engine returns the engine of a pack, nil when it is not loaded.
func (acts *CaseActions) engine(pack string) *router.Engine {
	if acts.Engine == nil {
		return nil
	}
	return acts.Engine(pack)
}

// actionID is the id of an action: derived from who sent it, the case and
// the Idempotency-Key, so a retried request is the same action; random
// without a key.
func actionID(principal, caseID, key string) string {
	if key == "" {
		b := make([]byte, 12)
		rand.Read(b)
		return "api:" + hex.EncodeToString(b)
	}
	sum := sha256.Sum256([]byte(principal + "\x00" + caseID + "\x00" + key))
	return "api:" + hex.EncodeToString(sum[:12])
}

// ParseSearch reads a search's URL query parameters as p asks them
// (caseindex.ParseQuery), where owner=me and assignee=me name p's own
// cases, limited to what p may see (Principal.Scope). Its errors are
// *caseindex.ParamError.
func ParseSearch(values url.Values, p Principal) (caseindex.Query, error) {
	for _, name := range []string{"owner", "assignee"} {
		if values.Get(name) == "me" {
			values = maps.Clone(values)
			values.Set(name, p.Name)
		}
	}
	q, err := caseindex.ParseQuery(values)
	q.Scope = p.Scope()
	return q, err
}

// parseSearch reads the request's query parameters as p's search
// (ParseSearch); when it cannot, ok is false and err is its answer, 400
// naming the wrong parameter.
func (k *Console) parseSearch(c *fiber.Ctx, p Principal) (q caseindex.Query, ok bool, err error) {
	values := url.Values{}
	c.Context().QueryArgs().VisitAll(func(key, value []byte) {
		values.Add(string(key), string(value))
	})
	q, err = ParseSearch(values, p)
	if err != nil {
		// param and message (Simplified Chinese) let the console show which
		// parameter is wrong; ParseQuery's errors are all *ParamError.
		body := fiber.Map{"error": err.Error(), "code": "bad_query", "message": "查询条件无效"}
		var pe *caseindex.ParamError
		if errors.As(err, &pe) {
			body["param"], body["message"] = pe.Param, pe.Message
		}
		return q, false, c.Status(fiber.StatusBadRequest).JSON(body)
	}
	return q, true, nil
}

func (k *Console) search(c *fiber.Ctx) error {
	p := PrincipalOf(c)
	q, ok, err := k.parseSearch(c, p)
	if !ok {
		return err
	}
	res, err := k.index.Search(c.UserContext(), q)
	if err != nil {
		k.logger.Error("search failed", zap.Error(err))
		return fail(c, fiber.StatusServiceUnavailable, errIndex)
	}
	for i := range res.Hits {
		res.Hits[i] = Redact(res.Hits[i], p, k.customerKey)
	}
	if res.Hits == nil {
		res.Hits = []router.Case{}
	}
	return c.JSON(res)
}

func (k *Console) get(c *fiber.Ctx) error {
	cs, ok, err := k.caseOf(c)
	if !ok {
		return err
	}
	return c.JSON(Redact(cs, PrincipalOf(c), k.customerKey))
}

// redact returns a case as p may see it. Every role gets the
// customer keys of the case and of its contacts' senders as opaque tokens
// (CustomerToken under customerKey): the same customer has the same token,
// so cases can still be grouped by customer, but no raw phone number or
// address leaves the pipeline in a key. A role that may not see contacts
// gets names, phone numbers and e-mail addresses masked, and the personal
// numbers and addresses in every text of the case (subject, description,
// contacts' texts, intake warnings, attachment names, history notes and details, the
// reasons of explanations and decisions) masked by ingest.MaskText. Redact
// copies what it changes, so the case passed in, which may be shared, is
// never modified.
func Redact(c router.Case, p Principal, customerKey []byte) router.Case {
	mask := !p.SeesContacts()
	c.Customer = redactCustomer(c.Customer, mask, customerKey)
	c.Contacts = slices.Clone(c.Contacts)
	for i := range c.Contacts {
		x := &c.Contacts[i]
		x.From = redactCustomer(x.From, mask, customerKey)
		if mask {
			x.Subject, x.Text = ingest.MaskText(x.Subject), ingest.MaskText(x.Text)
			x.Warnings = maskTexts(x.Warnings)
		}
	}
	if !mask {
		return c
	}
	c.Subject, c.Description = ingest.MaskText(c.Subject), ingest.MaskText(c.Description)
	c.Warnings = maskTexts(c.Warnings)
	c.Decision.Reason, c.Validity.Reason = ingest.MaskText(c.Decision.Reason), ingest.MaskText(c.Validity.Reason)
	c.Attachments = slices.Clone(c.Attachments)
	for i := range c.Attachments {
		c.Attachments[i].Name = ingest.MaskText(c.Attachments[i].Name)
	}
	c.Explanation = slices.Clone(c.Explanation)
	for i := range c.Explanation {
		e := &c.Explanation[i]
		e.Value, e.Reason = ingest.MaskText(e.Value), ingest.MaskText(e.Reason)
	}
	c.History = slices.Clone(c.History)
	for i := range c.History {
		h := &c.History[i]
		h.Detail, h.Note = ingest.MaskText(h.Detail), ingest.MaskText(h.Note)
	}
	return c
}

// maskTexts returns a copy of texts masked by ingest.MaskText.
func maskTexts(texts []string) []string {
	out := slices.Clone(texts)
	for i := range out {
		out[i] = ingest.MaskText(out[i])
	}
	return out
}

// redactCustomer replaces a customer's key by its token and, with mask,
// masks their name, phone and e-mail address. Empty fields stay empty.
func redactCustomer(cu normalize.Customer, mask bool, customerKey []byte) normalize.Customer {
	if cu.Key != "" {
		cu.Key = CustomerToken(customerKey, cu.Key)
	}
	if !mask {
		return cu
	}
	if cu.Name != "" {
		cu.Name = ingest.MaskName(cu.Name)
	}
	if cu.Phone != "" {
		cu.Phone = ingest.MaskPhone(cu.Phone)
	}
	if cu.Email != "" {
		cu.Email = ingest.MaskEmail(cu.Email)
	}
	return cu
}

// CustomerToken is the opaque token that stands for a customer key
// outside the pipeline: "c_" and the first 16 characters (80 bits) of the
// base32 of its HMAC-SHA256 under key. The same key and customer give the
// same token in every process; without the key, a token does not tell
// which phone number or address it stands for.
func CustomerToken(key []byte, customer string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(customer))
	return "c_" + strings.ToLower(base32.StdEncoding.EncodeToString(m.Sum(nil))[:16])
}
