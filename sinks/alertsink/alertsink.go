// Package alertsink delivers the router's notices (router.Notice, the
// payload of the alerts topic) to the people who act on them: urges (催办),
// batch incidents (批量投诉) and escalation alerts reach supervisors through
// the log, webhooks, DingTalk and WeCom group robots and e-mail.
//
// A Sink delivers one notice. The log sink writes it as a structured log
// line without complaint text; the webhook sink POSTs its JSON, signed with
// HMAC-SHA256 in the same scheme as tousu's inbound webhooks (see
// VerifySignature); a robot sink posts it to a DingTalk or WeCom group as
// Chinese markdown in the robot's own format (see Robot); an e-mail sink
// mails it as Chinese plain text to the addresses of the roles it
// notifies, over SMTP (see Email). All send a
// notice's texts masked (see Masked): no phone, ID card or bank card
// number or e-mail address leaves in full. A Dispatcher, built from Config
// by New, sends each notice to every sink whose filter lets it through and
// reports whether a failure is worth retrying.
//
// Delivery is at least once: a caller retries a notice that failed, so a
// receiver may get it again and drops it by its ID (sent as the
// X-Tousu-Notice-ID header; a mail's Message-ID is made from it). A group
// chat cannot drop repeats: a notice retried because another sink failed
// shows in it again.
package alertsink

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/internal/httppost"
	"github.com/tousu/tousu/internal/keypath"
	"github.com/tousu/tousu/router"
)

// ErrPermanent marks a delivery that will fail again however often it is
// retried: the receiver refused the request (a 4xx other than 408 and
// 429, or a redirect) or the notice cannot be sent at all. A caller
// dead-letters a notice whose error wraps it (errors.Is) and retries any
// other error.
var ErrPermanent = errors.New("permanent delivery failure")

// Sink delivers notices to one destination.
//
// Deliver is safe for concurrent use. It blocks until the notice was
// delivered, delivery failed, the sink's own timeout passed or ctx ended;
// it does not retry. A nil error means the destination acknowledged the
// notice. An error wrapping ErrPermanent means retrying is pointless; any
// other error is transient and the caller retries later.
//
// Delivery is at least once: the same Notice (same ID) may be delivered
// again after a retry, a redelivery from the alerts topic or a replay of
// the dead-letter topic. Receivers drop repeats by Notice.ID.
type Sink interface {
	Deliver(ctx context.Context, n router.Notice) error
}

// Filter selects the notices a sink receives. The zero Filter keeps every
// notice.
type Filter struct {
	// Kinds keeps only these kinds; empty keeps every kind.
	Kinds []string
	// MinLevel drops escalations below this level.
	MinLevel int
	// Notify keeps only escalations whose Notify shares a role with it;
	// empty keeps every escalation.
	Notify []string
}

// Match reports whether the filter lets n through. MinLevel and Notify
// narrow escalations only; urges and batches pass them.
func (f Filter) Match(n router.Notice) bool {
	if len(f.Kinds) > 0 && !slices.Contains(f.Kinds, n.Kind) {
		return false
	}
	if n.Kind != router.NoticeEscalation {
		return true
	}
	if n.Level < f.MinLevel {
		return false
	}
	if len(f.Notify) == 0 {
		return true
	}
	for _, role := range n.Notify {
		if slices.Contains(f.Notify, role) {
			return true
		}
	}
	return false
}

// Target is a named sink with its filter, one destination of a Dispatcher.
type Target struct {
	// Name labels the sink in metrics and errors.
	Name   string
	Sink   Sink
	Filter Filter
}

// Dispatcher delivers each notice to every target whose filter matches.
// It is a Sink itself: safe for concurrent use, at least once, blocking
// until every matching target has answered (they are called in parallel,
// so the slowest bounds the wait). Create it with New or NewDispatcher.
type Dispatcher struct {
	targets []Target
	m       metrics
	close   func()
}

// New builds a Dispatcher from cfg, provisioned (Config.Provision): the
// log sink if cfg.Log, then one webhook sink per cfg.Webhooks entry, one
// robot sink per cfg.Robots entry and one e-mail sink per cfg.Email
// entry. It validates cfg and reads the environment variables and files
// it names (url_env, and the secrets unless Config.ResolveSecrets did);
// errors name the variable or the file, never its value. logger should
// carry a component field; the log sink writes to it. Metrics are
// registered with reg unless it is nil.
func New(cfg Config, logger *zap.Logger, reg prometheus.Registerer) (*Dispatcher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("alertsink: %w", err)
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	client := httppost.NewClient()
	var targets []Target
	if cfg.Log {
		targets = append(targets, Target{Name: logSinkName, Sink: NewLog(logger)})
	}
	for i, w := range cfg.Webhooks {
		sink, err := newWebhookFromEnv(i, w, client, logger)
		if err != nil {
			return nil, err
		}
		targets = append(targets, Target{Name: w.Name, Sink: sink, Filter: w.Filter()})
	}
	for i, r := range cfg.Robots {
		if err := r.resolveSecrets(fmt.Sprintf("robots[%d]", i), "", nil); err != nil {
			return nil, fmt.Errorf("alertsink: %w", err)
		}
		if err := r.validate(); err != nil {
			return nil, fmt.Errorf("alertsink: %w", keypath.Under(fmt.Sprintf("robots[%d]", i), err))
		}
		sink, err := NewRobot(r, cfg.ConsoleURL, client, logger)
		if err != nil {
			return nil, err
		}
		targets = append(targets, Target{Name: r.Name, Sink: sink, Filter: r.Filter()})
	}
	for i, e := range cfg.Email {
		at := fmt.Sprintf("email[%d]", i)
		if err := e.SMTP.Password.ResolveAt(at+".smtp", "password", "", nil); err != nil {
			return nil, fmt.Errorf("alertsink: %w", err)
		}
		sink, err := NewEmail(e, cfg.ConsoleURL, logger)
		if err != nil {
			return nil, err
		}
		targets = append(targets, Target{Name: e.Name, Sink: sink, Filter: e.Filter()})
	}
	if len(targets) == 0 {
		logger.Warn("no alert sink is configured: notices are dropped (set alerts.log, alerts.webhooks, alerts.robots or alerts.email)")
	}
	d, err := NewDispatcher(targets, reg)
	if err != nil {
		return nil, err
	}
	d.close = client.CloseIdleConnections
	return d, nil
}

// NewDispatcher returns a Dispatcher over targets, whose names must be
// unique and non-empty. Metrics are registered with reg unless it is nil.
func NewDispatcher(targets []Target, reg prometheus.Registerer) (*Dispatcher, error) {
	names := make([]string, 0, len(targets))
	for _, t := range targets {
		if t.Name == "" || t.Sink == nil {
			return nil, errors.New("alertsink: a target needs a name and a sink")
		}
		if slices.Contains(names, t.Name) {
			return nil, fmt.Errorf("alertsink: two targets are named %q", t.Name)
		}
		names = append(names, t.Name)
	}
	m, err := newMetrics(reg, names)
	if err != nil {
		return nil, err
	}
	return &Dispatcher{targets: slices.Clone(targets), m: m, close: func() {}}, nil
}

// Deliver sends n to every matching target and returns nil when all of
// them acknowledged it (or none matched). Otherwise it returns the joined
// errors of the failed targets, each prefixed with the target's name. The
// error wraps ErrPermanent only when every failure is permanent, so a
// caller retries the whole notice while any target may still succeed, and
// dead-letters it once only permanent refusals remain. A notice without
// an ID or a kind is refused permanently.
func (d *Dispatcher) Deliver(ctx context.Context, n router.Notice) error {
	if n.ID == "" || n.Kind == "" {
		return fmt.Errorf("alertsink: notice without id or kind: %w", ErrPermanent)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	errs := make([]error, len(d.targets))
	var wg sync.WaitGroup
	for i, t := range d.targets {
		if !t.Filter.Match(n) {
			d.m.deliveries.WithLabelValues(t.Name, "filtered").Inc()
			continue
		}
		wg.Go(func() { errs[i] = d.deliver(ctx, t, n) })
	}
	wg.Wait()
	return joinFailures(errs)
}

func (d *Dispatcher) deliver(ctx context.Context, t Target, n router.Notice) error {
	start := time.Now()
	err := t.Sink.Deliver(ctx, n)
	d.m.seconds.WithLabelValues(t.Name).Observe(time.Since(start).Seconds())
	switch {
	case err == nil:
		d.m.deliveries.WithLabelValues(t.Name, "delivered").Inc()
		return nil
	case errors.Is(err, ErrPermanent):
		d.m.deliveries.WithLabelValues(t.Name, "rejected").Inc()
	default:
		d.m.deliveries.WithLabelValues(t.Name, "failed").Inc()
	}
	return fmt.Errorf("%s: %w", t.Name, err)
}

// joinFailures joins the non-nil errors. If any is transient, the
// permanent ones are flattened to text so that the result does not wrap
// ErrPermanent.
func joinFailures(errs []error) error {
	var failed []error
	transient := false
	for _, err := range errs {
		if err != nil {
			failed = append(failed, err)
			transient = transient || !errors.Is(err, ErrPermanent)
		}
	}
	if len(failed) == 0 {
		return nil
	}
	if transient {
		for i, err := range failed {
			if errors.Is(err, ErrPermanent) {
				failed[i] = errors.New(err.Error())
			}
		}
	}
	return fmt.Errorf("alertsink: %w", errors.Join(failed...))
}

// Close releases idle connections to webhook receivers. Call it after the
// last Deliver.
func (d *Dispatcher) Close() {
	d.close()
}

// Masked returns n with the personal numbers and e-mail addresses in its
// texts masked: the excerpt of the complaint by ingest.MaskExcerpt (it is
// cut at 120 characters), the reason, which may name the sender of a
// reply, by ingest.MaskText. A notice carries no other personal data.
func Masked(n router.Notice) router.Notice {
	n.Excerpt = ingest.MaskExcerpt(n.Excerpt)
	n.Reason = ingest.MaskText(n.Reason)
	return n
}
