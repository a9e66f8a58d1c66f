// Package routing is the router stage: it turns complaints into cases and
// applies case actions to them. It consumes complaints.normalized and
// case.actions (group Group; both keyed by customer and co-partitioned, so
// one instance owns each customer and is the only writer of their cases)
// and produces cases on the cases topic, notices on the alerts topic,
// batch candidates on complaints.batch, forwarded replies on
// complaints.normalized, the messages to customers on outbox
// (router.Notifier decides them), its customers' state on router.state, the
// agents' category corrections on policy.corrections and what became of
// each case action on case.outcomes. A call writes all of it in one
// broker call and acknowledges its messages only after that and after
// committing its state file (History); a complaint or action it cannot
// use is rejected to the dead-letter topic (a refused action once its
// refusal is on case.outcomes). TrainedPacks is the
// router's policy, retrained on the corrections every router instance
// follows from policy.corrections.
package routing

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/tousu/tousu/normalize"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/prune"
	"github.com/tousu/tousu/services/stages/record"
)

// Group is the router's consumer group.
const Group = "tousu-router"

// Stage turns complaints into cases: a new matter opens a case by the
// policy, a duplicate or repeat of the same customer is attached to their
// open case (a repeat raises urgency and urges the owner), and a repeat
// about a finished case opens a new case linked to it. Because
// complaints.normalized is keyed by customer, this instance owns every
// customer whose partitions it consumes, and keeps their state in its own
// file (History). Every complaint that opens a case is offered to batch
// detection on complaints.batch (see batcher.Stage), which flags the cases
// of a batch incident through case actions.
//
// A call decides its messages in order against the state, as of the
// call's start; the cases of complaints that will open one (customers
// without cases in the state) are opened ahead on every core, which the
// policy's Open being pure makes the same cases. It then writes the
// changed cases (each once, at its stored revision + 1), the notices, the
// batch candidates and the agents' category corrections (for every
// router's classifiers, see TrainedPacks) in one broker call, and only
// then commits the state. A failure anywhere
// leaves the state as it was, so the redelivered messages are decided
// again to the same cases and revisions; a complaint whose reference is
// already on one of the customer's cases is skipped.
type Stage struct {
	out    record.Writer
	policy router.Policy
	// engine returns the engine of a case's pack (router.Packs.ByName),
	// which applies actions to the case; nil when it is not loaded.
	engine func(pack string) *router.Engine
	// notifier decides the messages to customers; nil: none.
	notifier *router.Notifier
	state    *History
	// changelog reads router.state, where the router keeps every
	// customer's state for whichever instance owns them next; nil: this
	// router's file is the only copy (tests of one instance).
	changelog ChangelogReader
	// writer names this process on its router.state records.
	writer string
	// maxRecordBytes bounds every record the router writes (cases are
	// fitted to it, see router.EncodeCase; a larger notice, candidate,
	// forwarded reply or history is rejected).
	maxRecordBytes int
	cfg            normalize.DedupeConfig
	now            func() time.Time
	logger         *zap.Logger
	metrics        routerMetrics

	mu sync.Mutex
}

// Topics are the topics the router consumes, co-partitioned by
// customer.
var Topics = []string{bus.TopicNormalized, bus.TopicActions}

// Deps is what the router stage is made of.
type Deps struct {
	// Writer writes cases, notices, batch candidates, forwarded replies,
	// router.state records and corrections.
	Writer record.Writer
	// Policy opens a case for a new matter.
	Policy router.Policy
	// Engine returns the engine of a case's pack, which applies actions
	// to the case; nil when it is not loaded.
	Engine func(pack string) *router.Engine
	// Notifier decides the messages to customers the router writes on
	// the outbox topic; nil: it writes none.
	Notifier *router.Notifier
	// State is the router's state file; the caller closes it.
	State *History
	// Changelog reads router.state; nil: State is the only copy (tests of
	// one instance).
	Changelog      ChangelogReader
	Dedupe         normalize.DedupeConfig
	MaxRecordBytes int
	// Now is the clock cases are opened by; nil: time.Now.
	Now      func() time.Time
	Logger   *zap.Logger
	Registry prometheus.Registerer // nil: no metrics registered
}

// New registers the router's metrics with d.Registry and names
// this process on its router.state records.
func New(d Deps) *Stage {
	now := d.Now
	if now == nil {
		now = time.Now
	}
	if d.Logger == nil {
		d.Logger = zap.NewNop()
	}
	return &Stage{out: d.Writer, policy: d.Policy, engine: d.Engine, notifier: d.Notifier, state: d.State, changelog: d.Changelog, writer: newWriterID(),
		maxRecordBytes: d.MaxRecordBytes, cfg: d.Dedupe, now: now, logger: d.Logger, metrics: newRouterMetrics(d.Registry)}
}

// Run prunes the state every hour until ctx ends.
func (s *Stage) Run(ctx context.Context) error {
	prune.Every(ctx, time.Hour, s.logger, func(now time.Time) error {
		n, err := s.state.Prune(now)
		s.logger.Debug("pruned router state", zap.Int("customers", n))
		return err
	})
	return nil
}

// routerMetrics count the router's decisions.
type routerMetrics struct {
	contacts *prometheus.CounterVec
	actions  *prometheus.CounterVec
	outgoing *prometheus.CounterVec
	// stateSkipped counts router.state records skipped as never
	// applicable (see History.Restore).
	stateSkipped prometheus.Counter
}

// newRouterMetrics registers the router's metrics with reg (nil: none).
func newRouterMetrics(reg prometheus.Registerer) routerMetrics {
	m := routerMetrics{
		contacts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tousu_router_complaints_total",
			Help: "Complaints the router decided, by outcome: new, duplicate, repeat, repeat_finished, reply (from another address), reply_forwarded (to the sender's router: the case is not open here), redelivered."}, []string{"outcome"}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tousu_router_actions_total",
			Help: "Case actions the router applied, by kind and outcome: applied or unchanged (already applied, nothing to raise)."}, []string{"kind", "outcome"}),
		outgoing: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tousu_router_outgoing_total",
			Help: "Messages to customers the router wrote to the outbox topic, by kind (ack, joined, reply, result) and medium (email, sms)."}, []string{"kind", "medium"}),
		stateSkipped: prometheus.NewCounter(prometheus.CounterOpts{Name: "tousu_router_state_skipped_total",
			Help: "Records of router.state another router wrote that can never be applied (not JSON, no customer, not one case, history or sent log); they are logged and skipped."}),
	}
	if reg != nil {
		reg.MustRegister(m.contacts, m.actions, m.outgoing, m.stateSkipped)
	}
	return m
}

// Handle decides one complaint or applies one case action.
func (s *Stage) Handle(ctx context.Context, m bus.Message) error {
	return s.Batch(ctx, []bus.Message{m})
}

// Batch decides several complaints, writes their cases and notices in one
// broker call and then commits the state.
func (s *Stage) Batch(ctx context.Context, msgs []bus.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	applied, err := s.catchUp(ctx, msgs)
	if err != nil {
		return err
	}
	w := &routerWork{stage: s, ctx: ctx, customers: map[string]*normalize.CustomerHistory{}, dirty: map[string]bool{},
		cases: map[string]*caseDraft{}, outcomes: map[string]int{}, actions: map[[2]string]int{}, sent: map[string][]router.Sent{}}
	// Complaints are decided as of the call's start, so that the cases
	// opened ahead (prepare) are the cases opened in turn.
	now := s.now()
	type decoded struct {
		action    *router.Action
		complaint *normalize.Complaint
	}
	in := make([]decoded, len(msgs))
	var complaints []*normalize.Complaint
	for i, m := range msgs {
		if m.Topic == bus.TopicActions {
			var a router.Action
			if err := record.Decode(m, &a); err != nil {
				return err
			}
			in[i].action = &a
			continue
		}
		var c normalize.Complaint
		if err := record.Decode(m, &c); err != nil {
			return err
		}
		if err := record.CheckVersion(m, c.V, normalize.SchemaVersion); err != nil {
			return err
		}
		in[i].complaint = &c
		complaints = append(complaints, &c)
	}
	policy, err := w.prepare(complaints, now)
	if err != nil {
		return err
	}
	for _, d := range in {
		if d.action != nil {
			if err := s.act(w, *d.action); err != nil {
				return err
			}
			continue
		}
		policy.deciding(d.complaint)
		if err := s.route(w, *d.complaint, policy, now); err != nil {
			return err
		}
	}
	out, changes, err := w.finish()
	if err != nil {
		return err
	}
	changes.applied = applied
	if err := s.out.Write(ctx, out...); err != nil {
		return err
	}
	if err := s.state.commit(changes); err != nil {
		return fmt.Errorf("commit router state: %w", err)
	}
	for outcome, n := range w.outcomes {
		s.metrics.contacts.WithLabelValues(outcome).Add(float64(n))
	}
	for kindOutcome, n := range w.actions {
		s.metrics.actions.WithLabelValues(kindOutcome[0], kindOutcome[1]).Add(float64(n))
	}
	for _, o := range w.outgoing {
		s.metrics.outgoing.WithLabelValues(string(o.Kind), string(o.Medium)).Inc()
	}
	return nil
}

// route decides one complaint into w as of now (router.RouteComplaint).
func (s *Stage) route(w *routerWork, c normalize.Complaint, policy router.Policy, now time.Time) error {
	r, err := router.RouteComplaint(router.Arrival{Complaint: c, Records: w, Dedupe: s.cfg, Policy: policy, Now: now})
	if err != nil {
		return err
	}
	if r.Missing != "" {
		s.logger.Warn("the case to attach to is not in the router state; opening a new case", zap.String("case", r.Missing), zap.String("complaint", c.ID))
	}
	w.outcomes[string(r.Outcome)]++
	if err := w.notify(&r.Changes, r.Outcome, &c, nil); err != nil {
		return err
	}
	return w.apply(r.Changes)
}

// act applies a case action into w (router.ApplyAction); its result goes
// to case.outcomes with the case's revision (see finish). An action that
// can never apply (for a case this router does not hold, keyed by another
// customer, of a pack not loaded, or one the case does not allow) is
// dead-lettered with the reason, once its refusal is on case.outcomes for
// whoever sent it.
func (s *Stage) act(w *routerWork, a router.Action) error {
	r, err := router.ApplyAction(router.Acting{Action: a, Records: w, Engine: s.engine, Dedupe: s.cfg})
	if err != nil {
		return err
	}
	res := router.ResultOf(a, r, s.now())
	if r.Refused != nil {
		var out []bus.Message
		if err := record.AppendJSON(&out, s.maxRecordBytes, bus.TopicOutcomes, a.ID, res); err != nil {
			return err
		}
		if err := s.out.Write(w.ctx, out...); err != nil {
			return fmt.Errorf("write the refusal of action %s: %w", a.ID, err)
		}
		return bus.Reject(r.Refused)
	}
	w.actions[[2]string{string(a.Kind), string(r.Outcome)}]++
	w.results = append(w.results, res)
	if err := w.notify(&r.Changes, r.Outcome, nil, &a); err != nil {
		return err
	}
	return w.apply(r.Changes)
}

// routerWork is the state one router call reads and changes; it reaches
// the file only when the call commits.
type routerWork struct {
	stage     *Stage
	ctx       context.Context
	customers map[string]*normalize.CustomerHistory
	dirty     map[string]bool
	cases     map[string]*caseDraft
	order     []string // changed cases, in order of first change
	notices   []router.Notice
	// candidates are the complaints of this call that opened a case, for
	// batch detection.
	candidates []router.BatchCandidate
	// forward are replies this router cannot attach, back to
	// complaints.normalized for their sender's router.
	forward  []normalize.Complaint
	outcomes map[string]int
	actions  map[[2]string]int // kind, outcome
	// corrections are the agents' category corrections of this call, for
	// policy.corrections: every router's corrections follower stores them.
	corrections []packCorrection
	// results are the actions this call applied, for case.outcomes.
	results []router.ActionResult
	// outgoing are the messages to customers of this call, for outbox;
	// sent the logs of the customers they went to (router.Sent), loaded
	// once per call, and sentDirty those this call changed.
	outgoing  []router.Outgoing
	sent      map[string][]router.Sent
	sentDirty []string
	// erased are the cases this call erased, with the customer key they
	// had: their records under that key are deleted (see finish).
	erased []erasedCase
}

// erasedCase is a case an erase action erased and the customer key it
// had.
type erasedCase struct{ id, customer string }

// caseDraft is a case as this call changes it; base is the revision the
// router last wrote (0 for a case this call opens).
type caseDraft struct {
	c       router.Case
	base    int64
	changed bool
}

// history loads a customer's history once per call, forgetting its cases
// outside the repeat window first.
func (w *routerWork) history(key string) (*normalize.CustomerHistory, error) {
	if h, ok := w.customers[key]; ok {
		return h, nil
	}
	h, err := w.stage.state.Load(w.ctx, key)
	if err != nil {
		return nil, fmt.Errorf("load history: %w", err)
	}
	if dropped := h.Prune(w.stage.cfg, w.stage.now()); len(dropped) > 0 {
		w.dirty[key] = true
	}
	w.customers[key] = &h
	return &h, nil
}

// caseByID returns a case the router wrote, or nil when it does not have it.
func (w *routerWork) caseByID(id string) (*caseDraft, error) {
	if d, ok := w.cases[id]; ok {
		return d, nil
	}
	c, ok, err := w.stage.state.Case(id)
	if err != nil {
		return nil, fmt.Errorf("load case %s: %w", id, err)
	}
	if !ok {
		return nil, nil
	}
	d := &caseDraft{c: c, base: c.Revision}
	w.cases[id] = d
	return d, nil
}

// Case returns a case as this call sees it (router.Records).
func (w *routerWork) Case(id string) (router.Case, bool, error) {
	d, err := w.caseByID(id)
	if err != nil || d == nil {
		return router.Case{}, false, err
	}
	return d.c, true, nil
}

// History returns a customer's history as this call sees it
// (router.Records).
func (w *routerWork) History(key string) (normalize.CustomerHistory, error) {
	h, err := w.history(key)
	if err != nil {
		return normalize.CustomerHistory{}, err
	}
	return *h, nil
}

// apply makes the changes of one decision in w.
func (w *routerWork) apply(ch router.Changes) error {
	if ch.Opened != nil {
		w.open(*ch.Opened)
	}
	if u := ch.Updated; u != nil {
		d, err := w.caseByID(u.ID)
		if err != nil {
			return err
		}
		if d == nil && ch.Erased != nil && ch.Erased.Restored {
			// An erase action's snapshot of a case this router forgot.
			d = &caseDraft{base: u.Revision}
			w.cases[u.ID] = d
		}
		if d == nil {
			return fmt.Errorf("case %s changed but not in the router state", u.ID)
		}
		d.c = *u
		w.touch(d)
	}
	if hc := ch.History; hc != nil {
		h, err := w.history(hc.Customer)
		if err != nil {
			return err
		}
		if hc.Apply(h) {
			w.dirty[hc.Customer] = true
		}
	}
	if e := ch.Erased; e != nil {
		w.erased = append(w.erased, erasedCase{id: ch.Updated.ID, customer: e.Customer})
		corrections, err := w.stage.state.erasedCorrections(*ch.Updated)
		if err != nil {
			return fmt.Errorf("load the corrections of case %s: %w", ch.Updated.ID, err)
		}
		w.corrections = append(w.corrections, corrections...)
	}
	w.notices = append(w.notices, ch.Notices...)
	if ch.Forward != nil {
		w.forward = append(w.forward, *ch.Forward)
	}
	if ch.Candidate != nil {
		w.candidates = append(w.candidates, *ch.Candidate)
	}
	if ch.Correction != nil {
		w.corrections = append(w.corrections, newPackCorrection(ch.Updated.Pack, *ch.Correction))
	}
	return nil
}

// notify decides the message to the customer a decision calls for
// (router.Notifier.Notify) and puts the case, with the message's
// Message-ID, back in ch. comp is the complaint decided, a the action
// applied (one of them).
func (w *routerWork) notify(ch *router.Changes, outcome router.Outcome, comp *normalize.Complaint, a *router.Action) error {
	n := w.stage.notifier
	target, revision := ch.Opened, int64(1)
	if target == nil {
		target = ch.Updated
	}
	if n == nil || target == nil {
		return nil
	}
	if ch.Updated != nil {
		d, err := w.caseByID(target.ID)
		if err != nil {
			return err
		}
		if d != nil {
			revision = d.base + 1
		}
	}
	key := target.Customer.Key
	sent, loaded := w.sent[key]
	if !loaded {
		var err error
		if sent, err = w.stage.state.Sent(key); err != nil {
			return fmt.Errorf("load the messages sent to a customer: %w", err)
		}
		w.sent[key] = sent
	}
	res := n.Notify(router.NotifyInput{Case: *target, Revision: revision, Outcome: outcome, Complaint: comp, Action: a, Sent: sent, Now: w.stage.now()})
	if res.Skipped != "" {
		w.stage.logger.Debug("no message to the customer", zap.String("case", target.ID), zap.String("why", res.Skipped))
	}
	if len(res.Outgoing) == 0 {
		return nil
	}
	*target = res.Case
	w.outgoing = append(w.outgoing, res.Outgoing...)
	if !normalize.Anonymous(key) {
		w.sent[key] = res.Sent
		if !slices.Contains(w.sentDirty, key) {
			w.sentDirty = append(w.sentDirty, key)
		}
	}
	return nil
}

// open adds a case a complaint opened.
func (w *routerWork) open(c router.Case) *caseDraft {
	d := &caseDraft{c: c}
	w.cases[c.ID] = d
	w.touch(d)
	return d
}

func (w *routerWork) touch(d *caseDraft) {
	if !d.changed {
		d.changed = true
		w.order = append(w.order, d.c.ID)
	}
}

// finish gives every changed case its next revision and returns the
// messages to write and the state to commit.
func (w *routerWork) finish() ([]bus.Message, routerChanges, error) {
	var out []bus.Message
	var ch routerChanges
	budget := w.stage.maxRecordBytes
	// The cases are encoded on every core (encodeCase is pure), the
	// messages made in order.
	ch.cases = make([]storedCase, len(w.order))
	errs := make([]error, len(w.order))
	concurrently(len(w.order), func(i int) {
		d := w.cases[w.order[i]]
		d.c.Revision = d.base + 1
		ch.cases[i], errs[i] = encodeCase(d.c, budget)
	})
	for i, id := range w.order {
		if errs[i] != nil {
			return nil, ch, errs[i]
		}
		out = append(out, bus.Message{Topic: bus.TopicCases, Key: []byte(id), Value: ch.cases[i].JSON})
	}
	for _, n := range w.notices {
		if err := record.AppendJSON(&out, budget, bus.TopicAlerts, n.Case, n); err != nil {
			return nil, ch, err
		}
	}
	for _, c := range w.forward {
		if err := record.AppendJSON(&out, budget, bus.TopicNormalized, normalize.PartitionKey(c), c); err != nil {
			return nil, ch, err
		}
	}
	for _, c := range w.candidates {
		if err := record.AppendJSON(&out, budget, bus.TopicBatch, "pack:"+c.Pack, c); err != nil {
			return nil, ch, err
		}
	}
	for _, o := range w.outgoing {
		if err := record.AppendJSON(&out, budget, bus.TopicOutbox, o.Case, o); err != nil {
			return nil, ch, err
		}
	}
	for key, h := range w.customers {
		if w.dirty[key] {
			ch.customers = append(ch.customers, *h)
		}
	}
	for _, e := range w.erased {
		ch.erased = append(ch.erased, e)
		// A customer without cases left forgets the messages sent to
		// them too.
		if h := w.customers[e.customer]; h != nil && len(h.Cases) == 0 && !slices.Contains(w.sentDirty, e.customer) {
			w.sent[e.customer], w.sentDirty = nil, append(w.sentDirty, e.customer)
		}
	}
	for _, key := range w.sentDirty {
		ch.sent = append(ch.sent, sentLog{Customer: key, Sent: w.sent[key]})
	}
	if err := appendState(&out, ch, w.stage.writer, budget); err != nil {
		return nil, ch, err
	}
	for _, c := range w.corrections {
		if err := record.AppendJSON(&out, budget, bus.TopicCorrections, c.key(), c); err != nil {
			return nil, ch, err
		}
	}
	for _, r := range w.results {
		if d := w.cases[r.Case]; d != nil {
			r.Revision = d.c.Revision
		}
		if err := record.AppendJSON(&out, budget, bus.TopicOutcomes, r.Action, r); err != nil {
			return nil, ch, err
		}
	}
	return out, ch, nil
}
