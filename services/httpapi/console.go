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
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.uber.org/zap"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/ingest/webform"
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
}

// NewConsole returns the console API over an index; acts may be nil, and
// then the console only searches. customerKey keys the opaque tokens that
// replace customer keys in every case it returns (see CustomerToken); it
// must be the same on every console replica, e.g. the server secret's
// key.Derive("customer").
func NewConsole(index caseindex.Index, auth *Authenticator, acts *CaseActions, customerKey []byte, logger *zap.Logger) *Console {
	return &Console{index: index, auth: auth, acts: acts, logger: logger, customerKey: customerKey}
}

// Mount registers GET /api/v1/cases (search) and GET /api/v1/cases/:id,
// both for tokens whose role may search, and, with actions, POST
// /api/v1/cases/:id/actions for the same tokens.
func (k *Console) Mount(app fiber.Router) {
	search := k.auth.Require(Role.MaySearch)
	app.Get("/api/v1/cases", search, k.search)
	app.Get("/api/v1/cases/:id", search, k.get)
	if k.acts != nil {
		app.Post("/api/v1/cases/:id/actions", search, k.act)
	}
}

// actionRequest is the body of POST /api/v1/cases/:id/actions.
type actionRequest struct {
	Kind       router.ActionKind `json:"kind"`
	Assignee   string            `json:"assignee"`
	Department string            `json:"department"`
	Queue      string            `json:"queue"`
	Event      string            `json:"event"`
	Category   string            `json:"category"`
	Note       string            `json:"note"`
	// Actor is the agent an admin token (an integration such as a CRM)
	// acts for; other tokens act as themselves.
	Actor string `json:"actor"`
}

// agentKinds are the actions people may send; escalate and flag_batch
// come from tousu itself.
var agentKinds = []router.ActionKind{router.ActionTake, router.ActionTransfer, router.ActionNote, router.ActionEvent,
	router.ActionResolve, router.ActionClose, router.ActionReopen, router.ActionRecategorize}

// fieldLabels name an action's fields in the messages to agents.
var fieldLabels = map[string]string{
	"actor": "操作人", "assignee": "指派坐席", "department": "部门", "queue": "队列",
	"event": "事件", "category": "分类", "note": "备注",
}

// actionRefusal is the 422 answer to an action that is invalid whatever
// the case's state: its error and a Chinese message for the agent.
func actionRefusal(err error) fiber.Map {
	msg := "操作内容无效"
	var fe *router.FieldError
	var re *router.UnknownRouteError
	switch {
	case errors.As(err, &fe):
		label := fieldLabels[fe.Field]
		if label == "" {
			label = fe.Field
		}
		msg = fmt.Sprintf("%s过长（最多 %d 个字）或包含控制字符", label, fe.Max)
	case errors.As(err, &re):
		msg = fmt.Sprintf("该工单的处理规则中没有%s“%s”", fieldLabels[re.Field], re.Name)
	}
	return fiber.Map{"error": err.Error(), "message": msg}
}

// act accepts an action on a case: 202 with the action's id once the
// broker has it (the router applies it within moments; GET the case to
// see it), 404 for an unknown case, 422 for an invalid action (a field over
// its bound, an actor or assignee that is not an account, a department or
// queue the case's pack does not route to), 409 for one the case's
// current state does not allow. Refusals carry a Chinese message. An Idempotency-Key header
// makes a retried request the same action.
func (k *Console) act(c *fiber.Ctx) error {
	var req actionRequest
	if err := json.Unmarshal(c.Body(), &req); err != nil {
		return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{"error": "the body is not a JSON action", "message": "请求内容不是有效的操作"})
	}
	if !slices.Contains(agentKinds, req.Kind) {
		return c.Status(fiber.StatusUnprocessableEntity).JSON(fiber.Map{"error": fmt.Sprintf("kind must be one of %v", agentKinds), "message": "不支持的操作类型"})
	}
	key := c.Get("Idempotency-Key")
	if key != "" && !ingest.ValidIdempotencyKey(key) {
		return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{"error": "Idempotency-Key must be 1-128 printable ASCII characters"})
	}
	cs, err := k.index.Get(c.UserContext(), c.Params("id"))
	switch {
	case errors.Is(err, caseindex.ErrNotFound):
		return c.Status(fiber.StatusNotFound).JSON(fiber.Map{"error": "no case with this id"})
	case err != nil:
		k.logger.Error("get case for an action failed", zap.Error(err))
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"error": "the case index is unavailable, try again"})
	}
	p := PrincipalOf(c)
	actor := p.Name
	if req.Actor != "" && p.Role == RoleAdmin {
		actor = req.Actor
	}
	now := time.Now
	if k.acts.Now != nil {
		now = k.acts.Now
	}
	a := router.Action{
		V: router.ActionVersion, ID: actionID(p.Name, cs.ID, key), Case: cs.ID, Customer: cs.Customer.Key, Kind: req.Kind,
		Actor: actor, At: now().UTC(), Assignee: req.Assignee, Department: req.Department, Queue: req.Queue,
		Event: req.Event, Category: req.Category, Note: req.Note,
	}
	if err := a.Validate(); err != nil {
		return c.Status(fiber.StatusUnprocessableEntity).JSON(actionRefusal(err))
	}
	if a.Actor != p.Name && !k.auth.Knows(a.Actor) {
		return c.Status(fiber.StatusUnprocessableEntity).JSON(fiber.Map{"error": fmt.Sprintf("actor %q is not an account", a.Actor), "message": "操作人不是系统中的坐席账号"})
	}
	if a.Assignee != "" && !k.auth.Knows(a.Assignee) {
		return c.Status(fiber.StatusUnprocessableEntity).JSON(fiber.Map{"error": fmt.Sprintf("assignee %q is not an account", a.Assignee), "message": "指派坐席不是系统中的坐席账号"})
	}
	if e := k.engine(cs.Pack); e != nil {
		_, _, _, err := e.Apply(cs, a)
		var re *router.UnknownRouteError
		switch {
		case errors.As(err, &re):
			return c.Status(fiber.StatusUnprocessableEntity).JSON(actionRefusal(err))
		case err != nil:
			return c.Status(fiber.StatusConflict).JSON(fiber.Map{"error": err.Error(), "status": cs.Status, "message": "工单当前状态不允许此操作"})
		}
	}
	if err := k.acts.Publish(c.UserContext(), a); err != nil {
		k.logger.Error("publish case action failed", zap.String("case", cs.ID), zap.Error(err))
		c.Set(fiber.HeaderRetryAfter, "5")
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"error": "the action could not be queued, try again", "message": "操作暂时无法提交，请稍后重试"})
	}
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"action": a.ID, "case": cs.ID, "kind": a.Kind})
}

func (k *Console) engine(pack string) *router.Engine {
	if k.acts.Engine == nil {
		return nil
	}
	return k.acts.Engine(pack)
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
		res.Hits[i] = redact(res.Hits[i], role, k.customerKey)
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
	return c.JSON(redact(cs, PrincipalOf(c).Role, k.customerKey))
}

// redact returns a case as the role may see it. Every role gets the
// customer keys of the case and of its contacts' senders as opaque tokens
// (CustomerToken under customerKey): the same customer has the same token,
// so cases can still be grouped by customer, but no raw phone number or
// address leaves the pipeline in a key. A role that may not see contacts
// gets names, phone numbers and e-mail addresses masked, and the personal
// numbers and addresses in every text of the case (subject, description,
// contacts' texts, attachment names, history notes and details, the
// reasons of explanations and decisions) masked by ingest.MaskText. redact
// copies what it changes, so the case passed in, which may be shared, is
// never modified.
func redact(c router.Case, role Role, customerKey []byte) router.Case {
	mask := !role.SeesContacts()
	c.Customer = redactCustomer(c.Customer, mask, customerKey)
	c.Contacts = slices.Clone(c.Contacts)
	for i := range c.Contacts {
		x := &c.Contacts[i]
		x.From = redactCustomer(x.From, mask, customerKey)
		if mask {
			x.Subject, x.Text = ingest.MaskText(x.Subject), ingest.MaskText(x.Text)
		}
	}
	if !mask {
		return c
	}
	c.Subject, c.Description = ingest.MaskText(c.Subject), ingest.MaskText(c.Description)
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
