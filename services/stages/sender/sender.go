// Package sender is the stage that delivers the messages of the outbox
// topic (router.Outgoing: acknowledgements, agents' replies, result
// notices, surveys) to customers through the configured providers (SMTP,
// SMS) and reports what became of each on the case: a delivery action
// (router.DeliveryAction) on case.actions, keyed by the case's customer.
//
// It consumes the outbox topic (group Group) like the alert delivery
// stage consumes the alerts topic: a message a provider refuses for good
// is rejected to the dead-letter topic with the reason and its original
// bytes. Unlike alert delivery, a message that fails for now is tried a
// bounded number of times (Config.Attempts, with backoff) and then
// reported failed and dead-lettered too, so that one provider's outage
// holds the case's partition for seconds, not for hours; the dead letter
// can be replayed. The delivery action is acknowledged by the broker
// before the outbox offset is committed.
//
// # Sent once
//
// The ids of the records a provider accepted are kept in a bbolt file
// (Deps.Path), checked before a send and written, synced, right after the
// provider accepted. A record delivered again (its offset was not
// committed: a crash, a rebalance, a failed action write) is then not sent
// again; its delivery action is written again (the same action id, so the
// case changes once). The one window left is between the provider's
// acceptance and that write: a process killed there sends the record
// again on restart. An e-mail sent again carries the same Message-ID
// (fixed by the router, or derived from the record id), so the customer's
// mail client shows one mail; an SMS sent again is a second SMS. Delivery
// is thus at most once per record outside that window of a few
// milliseconds and at least once always.
//
// The file is per process: run one sender per outbox partition set (the
// sender target keeps it in its data directory).
package sender

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/internal/backoff"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/prune"
	"github.com/tousu/tousu/services/stages/record"
	"github.com/tousu/tousu/sinks/outbound"
)

// Group is the consumer group of the sender.
const Group = "tousu-sender"

// Topics are the topics the sender consumes.
var Topics = []string{bus.TopicOutbox}

// maxReason bounds the reason of a failed delivery, in bytes.
const maxReason = 512

// maxActionBytes bounds a delivery action as encoded (a few hundred bytes
// in practice).
const maxActionBytes = 64 << 10

// Provider is one way to send: a transport for one medium, the packs it
// serves and its rate limit.
type Provider struct {
	// Name labels the provider in logs (smtp:main).
	Name   string
	Medium router.Medium
	// Packs are the pack names (without @version) it sends for; empty:
	// every pack no other provider of the medium names.
	Packs     []string
	Transport outbound.Transport
	Rate      Rate
}

// Providers returns the SMTP providers and the SMS provider of cfg, whose
// secrets must be resolved (Config.ResolveSecrets); logger is the SMS
// transport's.
func Providers(cfg Config, logger *zap.Logger) ([]Provider, error) {
	var out []Provider
	for _, s := range cfg.SMTP {
		t, err := outbound.NewSMTP(s.SMTPConfig)
		if err != nil {
			return nil, err
		}
		s.Rate.Provision()
		out = append(out, Provider{Name: "smtp:" + s.Name, Medium: router.MediumEmail, Packs: s.Packs, Transport: t, Rate: s.Rate})
	}
	sms, err := outbound.NewSMS(cfg.SMS.SMSConfig, nil, logger)
	if err != nil {
		return nil, err
	}
	if sms != nil {
		cfg.SMS.Rate.Provision()
		out = append(out, Provider{Name: "sms:" + cfg.SMS.Provider, Medium: router.MediumSMS, Transport: sms, Rate: cfg.SMS.Rate})
	}
	return out, nil
}

// Deps is what the sender is made of.
type Deps struct {
	// Writer writes the delivery actions.
	Writer record.Writer
	// Path is the file of the delivered ids.
	Path      string
	Providers []Provider
	// Config gives the attempts, the backoff and how long ids are kept;
	// its SMTP list is not read (see Providers).
	Config   Config
	Logger   *zap.Logger
	Registry prometheus.Registerer // nil: no metrics registered
	// Now is the clock of the delivery actions; nil means time.Now.
	Now func() time.Time
}

// provider is a Provider with its limiter.
type provider struct {
	Provider
	limit *limiter
}

// Stage delivers the outbox.
type Stage struct {
	out       record.Writer
	store     *deliveredStore
	providers []provider
	cfg       Config
	logger    *zap.Logger
	messages  *prometheus.CounterVec
	now       func() time.Time
}

// New opens the file of delivered ids, registers the metrics and logs
// which providers are configured.
func New(d Deps) (*Stage, error) {
	d.Config.Provision()
	if d.Logger == nil {
		d.Logger = zap.NewNop()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	store, err := openDelivered(d.Path)
	if err != nil {
		return nil, err
	}
	messages := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tousu_sender_messages_total",
		Help: "Messages to customers by medium and outcome: sent (the provider accepted), failed (reported failed on the case and dead-lettered) and retried (a try that failed for now).",
	}, []string{"medium", "outcome"})
	for _, m := range []router.Medium{router.MediumEmail, router.MediumSMS} {
		for _, o := range []string{"sent", "failed", "retried"} {
			messages.WithLabelValues(string(m), o)
		}
	}
	if d.Registry != nil {
		if err := d.Registry.Register(messages); err != nil {
			store.Close()
			return nil, fmt.Errorf("sender: register metrics: %w", err)
		}
	}
	s := &Stage{out: d.Writer, store: store, cfg: d.Config, logger: d.Logger, messages: messages, now: d.Now}
	var names []string
	for _, p := range d.Providers {
		s.providers = append(s.providers, provider{Provider: p, limit: &limiter{rate: p.Rate}})
		names = append(names, fmt.Sprintf("%s (%s)", p.Name, p.Medium))
	}
	if len(names) == 0 {
		s.logger.Info("sender started without providers: every outbox message is reported as a failed delivery")
	} else {
		s.logger.Info("sender started", zap.Strings("providers", names))
	}
	return s, nil
}

// Close closes the file of delivered ids.
func (s *Stage) Close() error { return s.store.Close() }

// Run prunes the delivered ids older than Config.Remember until ctx ends.
func (s *Stage) Run(ctx context.Context) error {
	prune.Every(ctx, time.Hour, s.logger, func(now time.Time) error {
		n, err := s.store.Prune(now.Add(-s.cfg.Remember))
		s.logger.Debug("pruned delivered ids", zap.Int("ids", n))
		return err
	})
	return nil
}

// Handle delivers one outbox message and writes its delivery action: sent
// (the message was delivered now or before) or failed (it is then
// rejected to the dead-letter topic with the reason). It returns ctx.Err()
// when ctx ends mid-delivery, and the error of an action write, so that
// the message is offered again.
func (s *Stage) Handle(ctx context.Context, m bus.Message) error {
	var o router.Outgoing
	if err := record.Decode(m, &o); err != nil {
		return err
	}
	if err := record.CheckVersion(m, o.V, router.OutboxVersion); err != nil {
		return err
	}
	if o.ID == "" || o.Case == "" || o.Customer == "" {
		return bus.Reject(errors.New("outbox 记录缺少 id、case 或 customer"))
	}
	log := s.logger.With(zap.String("message", o.ID), zap.String("case", o.Case), zap.String("kind", string(o.Kind)), zap.String("medium", string(o.Medium)))
	_, sent, err := s.store.Sent(o.ID)
	if err != nil {
		return fmt.Errorf("read delivered ids: %w", err)
	}
	if sent {
		log.Info("message delivered before; reporting it again")
		return s.report(ctx, o, router.DeliverySent, "")
	}
	p := s.pick(o)
	if p == nil {
		return s.fail(ctx, o, log, noProvider(o))
	}
	if err := s.send(ctx, p, o, log); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return s.fail(ctx, o, log, err)
	}
	if err := s.store.MarkSent(o.ID, s.now()); err != nil {
		// The provider took it: report it sent all the same. A
		// redelivery would send it again, with the same Message-ID.
		log.Error("cannot remember the delivered message; a redelivery will send it again", zap.Error(err))
	}
	s.messages.WithLabelValues(string(o.Medium), "sent").Inc()
	log.Info("message sent", zap.String("provider", p.Name))
	return s.report(ctx, o, router.DeliverySent, "")
}

// pick returns the provider of o's medium that names o's pack, else the
// first of the medium without packs; nil when there is none.
func (s *Stage) pick(o router.Outgoing) *provider {
	pack, _, _ := strings.Cut(o.Pack, "@")
	var fallback *provider
	for i := range s.providers {
		p := &s.providers[i]
		if p.Medium != o.Medium {
			continue
		}
		if slices.Contains(p.Packs, pack) {
			return p
		}
		if len(p.Packs) == 0 && fallback == nil {
			fallback = p
		}
	}
	return fallback
}

// noProvider is the permanent failure of a message no provider sends.
func noProvider(o router.Outgoing) error {
	switch o.Medium {
	case router.MediumSMS:
		return fmt.Errorf("未配置短信通道: %w", outbound.ErrPermanent)
	case router.MediumEmail:
		return fmt.Errorf("未配置邮件通道: %w", outbound.ErrPermanent)
	}
	return fmt.Errorf("不支持的发送方式 %q: %w", o.Medium, outbound.ErrPermanent)
}

// send tries o through p until the provider accepts it, refuses it for
// good, Config.Attempts tries failed for now, or ctx ends; each try waits
// for p's rate limit.
func (s *Stage) send(ctx context.Context, p *provider, o router.Outgoing, log *zap.Logger) error {
	for attempt := 1; ; attempt++ {
		if err := p.limit.Wait(ctx); err != nil {
			return err
		}
		err := p.Transport.Send(ctx, o)
		if err == nil || errors.Is(err, outbound.ErrPermanent) || ctx.Err() != nil {
			return err
		}
		if attempt >= s.cfg.Attempts {
			return fmt.Errorf("重试%d次仍未送达，最后一次: %w", attempt, err)
		}
		s.messages.WithLabelValues(string(o.Medium), "retried").Inc()
		delay := backoff.Capped(s.cfg.MinBackoff, s.cfg.MaxBackoff, attempt)
		log.Warn("delivery failed for now, retrying", zap.String("provider", p.Name), zap.Int("attempt", attempt),
			zap.Duration("backoff", delay), zap.String("error", ingest.MaskText(err.Error())))
		if !backoff.Sleep(ctx, delay) {
			return ctx.Err()
		}
	}
}

// fail reports o failed with the reason of err (masked: no address or
// number) and rejects it to the dead-letter topic with that reason.
func (s *Stage) fail(ctx context.Context, o router.Outgoing, log *zap.Logger, err error) error {
	reason := Reason(err)
	if werr := s.report(ctx, o, router.DeliveryFailed, reason); werr != nil {
		return werr
	}
	s.messages.WithLabelValues(string(o.Medium), "failed").Inc()
	log.Warn("message not delivered", zap.String("reason", reason))
	return bus.Reject(errors.New(reason))
}

// Reason is the text of a failed delivery for the case's timeline and the
// dead-letter topic: the error's text with e-mail addresses and numbers
// masked, within maxReason bytes.
func Reason(err error) string {
	return ingest.TruncateUTF8(ingest.MaskText(err.Error()), maxReason)
}

// report writes o's delivery action and waits for the broker's
// acknowledgement.
func (s *Stage) report(ctx context.Context, o router.Outgoing, state router.DeliveryState, reason string) error {
	var msgs []bus.Message
	if err := record.AppendJSON(&msgs, maxActionBytes, bus.TopicActions, o.Customer, router.DeliveryAction(o, state, reason, s.now())); err != nil {
		return err
	}
	if err := s.out.Write(ctx, msgs...); err != nil {
		return fmt.Errorf("write delivery action of %s: %w", o.ID, err)
	}
	return nil
}
