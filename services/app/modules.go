package app

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"

	"github.com/tousu/tousu/ingest/attachment"
	"github.com/tousu/tousu/ingest/imap"
	"github.com/tousu/tousu/ingest/webform"
	"github.com/tousu/tousu/ingest/webhook"
	"github.com/tousu/tousu/internal/secret"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/router/calendar"
	"github.com/tousu/tousu/services/accounts"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/console"
	"github.com/tousu/tousu/services/deadletters"
	"github.com/tousu/tousu/services/httpapi"
	"github.com/tousu/tousu/services/ledger"
	"github.com/tousu/tousu/services/notices"
	"github.com/tousu/tousu/services/ops"
	"github.com/tousu/tousu/services/outcomes"
	"github.com/tousu/tousu/services/privacy"
	"github.com/tousu/tousu/services/serverkey"
	"github.com/tousu/tousu/services/stages/alerts"
	"github.com/tousu/tousu/services/stages/batcher"
	"github.com/tousu/tousu/services/stages/escalator"
	"github.com/tousu/tousu/services/stages/indexer"
	"github.com/tousu/tousu/services/stages/normalizer"
	"github.com/tousu/tousu/services/stages/routing"
	"github.com/tousu/tousu/services/stages/sender"
	"github.com/tousu/tousu/sinks/bleveindex"
	"github.com/tousu/tousu/sinks/caseindex"
	"github.com/tousu/tousu/sinks/esindex"
)

// CheckTargets reports combinations a configuration cannot run.
func CheckTargets(cfg *Config, targets []Target) error {
	has := func(t Target) bool { return slices.Contains(targets, t) }
	if cfg.Index.Backend == "bleve" && has(TargetIndexer) != has(TargetConsole) {
		return errors.New("with the embedded bleve index, the indexer and console targets must run in the same process")
	}
	if !has(TargetBroker) && cfg.Embedded() && len(targets) > 0 {
		return fmt.Errorf("no Kafka brokers: set bus.brokers (or %s), or run the broker target in this process", EnvKafkaBrokers)
	}
	if !cfg.Embedded() && !has(TargetBroker) && !cfg.Security.Configured() && (has(TargetGateway) || has(TargetPoller) || has(TargetConsole)) {
		return fmt.Errorf("security.secret: not set; the gateway, poller and console on Kafka need the server secret every replica shares (security.secret, security.secret_file or %s, at least %d bytes)", EnvSecret, serverkey.MinSecretBytes)
	}
	return nil
}

// Process is a running tousu process.
type Process struct {
	cfg     Config
	targets []Target
	logger  *zap.Logger
	out     io.Writer

	registry *registry
	broker   *bus.Broker
	producer *bus.Producer
	index    caseindex.Index
	server   *httpapi.Server
	listener net.Listener
	closers  []io.Closer
	runners  []func(ctx context.Context) error
	groups   map[string][]string // consumer group -> topics, for lag
	auth     *httpapi.Authenticator
	// form is the gateway's web form, when it runs here: the console
	// mounts the status page on it.
	form *webform.Form
	// key is the server secret, loaded when a target needs it (see
	// loadKey).
	key serverkey.Key
	// ledger is the web form's shared ledger, when the gateway or the
	// console runs here (see formShared).
	ledger *ledger.Ledger
	// rates is the shared record of the rate limits (gateway.rates),
	// started with ledger.
	rates *ledger.Ledger
	// accounts are the console's accounts, when the console runs here.
	accounts *accounts.Store
	// sessions sign people in to the console, when it runs here; its pages
	// are mounted behind sessions.RequirePage.
	sessions *console.Sessions
	// channels are the intake channels' health, when the gateway or the
	// poller runs here; mail is the poller's mailbox reader.
	channels *ops.Channels
	mail     *imap.Reader
	// deployment and lagHistory are what a console keeps for the ops
	// page and API (see startOpsPage).
	deployment *ops.Deployment
	lagHistory *ops.History
	// pipeline are the consumer groups of the graph with their topics,
	// for the lag view.
	pipeline []consumption
}

// Start starts the targets' components for cfg, the effective
// configuration Load returned (provisioned, secrets resolved, validated:
// Start does not validate it again), and returns once the HTTP listener
// is bound and the broker's topics exist; Run then serves. Start prints
// the addresses a user needs to out.
func Start(ctx context.Context, cfg Config, targets []Target, logger *zap.Logger, out io.Writer) (*Process, error) {
	if err := CheckTargets(&cfg, targets); err != nil {
		return nil, err
	}
	p := &Process{cfg: cfg, targets: targets, logger: logger, out: out, registry: newRegistry(), pipeline: consumers()}
	p.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := p.start(ctx); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

func (p *Process) has(t Target) bool { return slices.Contains(p.targets, t) }

func (p *Process) component(name string) *zap.Logger {
	return p.logger.With(zap.String("component", name))
}

// start starts the modules of the process's targets in dependency order
// (see graph), then binds the HTTP listener.
func (p *Process) start(ctx context.Context) error {
	cfg := &p.cfg
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return err
	}
	// Every process serves /healthz, /readyz, /metrics and the lag view.
	for _, m := range plan(cfg, append(slices.Clone(p.targets), moduleServer)) {
		if err := m.start(p, ctx); err != nil {
			return err
		}
	}
	if err := p.watchLag(); err != nil {
		return err
	}
	p.announce()
	p.mountOps()
	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("http listen: %w", err)
	}
	p.listener = ln
	p.closers = append(p.closers, ln)
	p.printAddresses()
	return nil
}

// startBroker runs the embedded broker; with no Kafka brokers configured,
// the process's other modules use it.
func (p *Process) startBroker(context.Context) error {
	b, err := bus.StartBroker(p.cfg.Broker, p.component("broker"))
	if err != nil {
		return fmt.Errorf("start embedded broker: %w", err)
	}
	p.broker = b
	p.closers = append(p.closers, b)
	if p.cfg.Embedded() {
		p.cfg.Bus.Brokers = []string{b.Addr()}
	}
	return nil
}

// startSecrets loads the API tokens and the server secret.
func (p *Process) startSecrets(context.Context) error {
	if err := p.ensureToken(); err != nil {
		return err
	}
	return p.loadKey()
}

// startServer makes the HTTP server (bound later, once every module has
// mounted its routes) and its authenticator.
func (p *Process) startServer(context.Context) error {
	p.auth = httpapi.NewAuthenticator(p.cfg.Auth)
	p.server = httpapi.New(p.cfg.HTTP, p.component("http"), p.registry, p.auth)
	ping := func(ctx context.Context) error { return bus.Ping(ctx, p.cfg.Bus) }
	if !p.has(TargetGateway) {
		p.server.AddCheck("broker", ping)
		return nil
	}
	// The gateway spools while the broker is away, so a load balancer
	// should keep sending it complaints: the broker is shown, the spool's
	// room decides (startSpool).
	p.server.AddDetail("broker", func() any {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := ping(ctx); err != nil {
			return err.Error()
		}
		return "ok"
	})
	return nil
}

// startBus creates the topics, waiting for the broker, and the producer.
func (p *Process) startBus(ctx context.Context) error {
	cfg := &p.cfg
	// The TLS files and the SASL password are read once, here: a missing
	// file stops the start instead of looking like a broker away.
	if err := cfg.Bus.Load(); err != nil {
		return fmt.Errorf("bus: %w", err)
	}
	for _, w := range cfg.Bus.Warnings() {
		p.component("bus").Warn("bus." + w)
	}
	// Separate processes may start before their broker: wait for it.
	wait, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		err := bus.EnsureTopics(wait, cfg.Bus)
		if err == nil {
			break
		}
		p.component("bus").Info("waiting for the broker", zap.Strings("brokers", cfg.Bus.Brokers), zap.Error(err))
		select {
		case <-wait.Done():
			return fmt.Errorf("create topics on %v: %w", cfg.Bus.Brokers, err)
		case <-time.After(time.Second):
		}
	}
	prod, err := bus.NewProducer(cfg.Bus, p.component("producer"), p.registry)
	if err != nil {
		return err
	}
	p.producer = prod
	p.closers = append(p.closers, prod)
	return nil
}

// openIndex opens the case index: Elasticsearch from any process, the
// embedded Bleve index in this process's data directory.
func (p *Process) openIndex(ctx context.Context) error {
	var idx caseindex.Index
	var err error
	// The SLA facts count working time on each case's pack's calendar.
	if packs, perr := p.cfg.LoadPolicies(time.Now()); perr == nil {
		cals := func(pack string) *calendar.Calendar {
			if e := packs.ByName(pack); e != nil {
				return e.Calendar()
			}
			return nil
		}
		p.cfg.Index.Bleve.Calendars, p.cfg.Index.Elasticsearch.Calendars = cals, cals
	} else {
		p.component("index").Warn("policy packs not loaded: SLA working times use the default calendar", zap.Error(perr))
	}
	if p.cfg.Index.Backend == "elasticsearch" {
		idx, err = esindex.Open(ctx, p.cfg.Index.Elasticsearch, p.component("index"), p.registry)
	} else {
		idx, err = bleveindex.Open(p.cfg.Index.Bleve, p.component("index"))
	}
	if err != nil {
		return fmt.Errorf("open index: %w", err)
	}
	p.index = idx
	p.closers = append(p.closers, idx)
	p.server.AddCheck("index", idx.Ping)
	return nil
}

// startGateway mounts the HTTP intake: the web form, the JSON API and the
// webhooks. Any number of gateways may serve them.
func (p *Process) startGateway(context.Context) error {
	store, err := attachment.Open(filepath.Join(p.cfg.DataDir, "attachments"))
	if err != nil {
		return err
	}
	publish, err := p.startSpool()
	if err != nil {
		return err
	}
	shared, err := p.formShared()
	if err != nil {
		return err
	}
	form, err := webform.New(p.cfg.Webform, shared, publish, store, p.component("webform"), p.registry)
	if err != nil {
		return err
	}
	// API tokens scope idempotency keys by their name.
	form.Mount(p.server.App(), webform.BearerAuth(func(token string) (string, bool) {
		who, ok := p.auth.Check(token)
		return who.Name, ok && who.Role.MaySubmit()
	}))
	hooks, err := webhook.New(p.cfg.Webhook, shared, publish, p.component("webhook"), p.registry)
	if err != nil {
		return err
	}
	hooks.OnRefused(p.webhookRefusals())
	hooks.Mount(p.server.App())
	p.server.OwnBody(webform.PathSubmit, webform.PathAPI, webhook.PathPrefix)
	p.server.SetErrorPage(form.ErrorPage)
	p.form = form
	return nil
}

// startPoller reads the sources tousu fetches from: the IMAP mailboxes and
// the hotline CSV folders. Each keeps its progress in the data directory,
// so one process polls them.
func (p *Process) startPoller(context.Context) error {
	store, err := attachment.Open(filepath.Join(p.cfg.DataDir, "attachments"))
	if err != nil {
		return err
	}
	if err := p.startMail(store); err != nil {
		return err
	}
	return p.startHotline()
}

// startConsole mounts the search API and the customer status and survey
// pages, on the gateway's form when this process runs the gateway too.
func (p *Process) startConsole(context.Context) error {
	// The console checks actions against the policy packs' states and
	// routing, which training does not change.
	packs, err := p.cfg.LoadPolicies(time.Now())
	if err != nil {
		return err
	}
	results, err := p.followOutcomes()
	if err != nil {
		return err
	}
	shared, err := p.formShared()
	if err != nil {
		return err
	}
	tpl, err := console.LoadTemplates()
	if err != nil {
		return err
	}
	// Tokens named after an account are that account's; the sessions make
	// the API accept the session cookie too.
	p.auth.UseAccounts(p.accounts)
	p.sessions = console.NewSessions(p.cfg.Session, p.key.Derive("session"), p.accounts, shared.Ledger, p.auth, tpl, p.component("sessions"))
	p.sessions.Mount(p.server.App())
	console.MountStatic(p.server.App(), p.component("console"))
	acts := &httpapi.CaseActions{Publish: publishAction(p.producer), Engine: packs.ByName, Result: results.Result}
	httpapi.NewConsole(p.index, p.auth, acts, p.key.Derive("customer"), p.component("console")).Mount(p.server.App())
	httpapi.NewReports(p.index, p.auth, p.component("reports")).Mount(p.server.App())
	// Every console follows the alerts into memory; read marks are on the
	// shared ledger, so they hold on every replica.
	notes := notices.New(shared.Ledger)
	if err := p.follow("notices", bus.FollowerConfig{Topic: bus.TopicAlerts}, notes.Follow, notes.Prune); err != nil {
		return err
	}
	// Every console follows the dead letters into memory; replay marks are
	// on the shared ledger, so every replica refuses a second replay.
	dead := deadletters.New(p.cfg.DeadLetters, p.producer.Write, shared.Ledger)
	if err := p.follow("deadletters", bus.FollowerConfig{Topic: bus.TopicDLQ}, dead.Follow, nil); err != nil {
		return err
	}
	dlq := httpapi.NewDeadLetters(dead, p.auth, p.component("deadletters"))
	dlq.Mount(p.server.App())
	// The files customers attached, as the gateway and the poller of
	// this data directory stored them.
	files, err := attachment.Open(filepath.Join(p.cfg.DataDir, "attachments"))
	if err != nil {
		return err
	}
	admin := httpapi.NewAdmin(p.accounts, p.auth, p.component("admin"))
	// Customers' rights (export, erasure) and the retention job, where
	// the index, the broker and the files are.
	rights := privacy.New(privacy.Deps{Index: p.index, Publish: publishAction(p.producer), Files: files, Config: p.cfg.Privacy,
		Logger: p.component("privacy"), Registry: p.registry})
	httpapi.NewPrivacy(rights, p.auth, p.component("privacy")).Mount(p.server.App())
	p.runners = append(p.runners, rights.Run)
	console.NewPages(console.PagesDeps{Index: p.index, Actions: acts, Templates: tpl, Attachments: files,
		RequirePage: p.sessions.RequirePage(), CheckCSRF: p.sessions.CheckCSRF(), CSRFToken: console.CSRFToken,
		Knows: p.auth.Knows, CustomerKey: p.key.Derive("customer"), Admin: admin, Logger: p.component("console"), Notices: notes,
		DeadLetters: dlq, Privacy: rights}).Mount(p.server.App())
	admin.Mount(p.server.App())
	if err := p.startOpsPage(tpl); err != nil {
		return err
	}
	form := p.form
	if form == nil {
		if form, err = webform.New(p.cfg.Webform, shared, nil, nil, p.component("status"), p.registry); err != nil {
			return err
		}
	}
	surveys := httpapi.SurveyBook{Index: p.index, Key: p.surveyKey(), Publish: publishAction(p.producer)}
	form.MountStatus(p.server.App(), httpapi.StatusLookup{Index: p.index, Engine: packs.ByName, Surveys: surveys})
	form.MountSurvey(p.server.App(), surveys)
	p.server.SetErrorPage(form.ErrorPage)
	return nil
}

// followOutcomes follows case.outcomes, where the routers tell what
// became of each case action, into memory: every console replica follows
// all of it, so an agent learns the result whichever replica they ask.
func (p *Process) followOutcomes() (*outcomes.Store, error) {
	store := outcomes.New()
	return store, p.follow("outcomes", bus.FollowerConfig{Topic: bus.TopicOutcomes}, store.Follow, store.Prune)
}

// startAccounts follows the console's accounts on the broker into memory
// and, once caught up, gives an installation without an admin its first
// one (see bootstrapAdmin).
func (p *Process) startAccounts(context.Context) error {
	store := accounts.NewStore(p.producer.Write, bus.TopicAccounts, p.component("accounts"))
	if err := p.follow("accounts", bus.FollowerConfig{Topic: bus.TopicAccounts, CaughtUp: store.CaughtUp}, store.Follow, nil); err != nil {
		return err
	}
	p.accounts = store
	p.runners = append(p.runners, p.bootstrapAdmin)
	p.server.AddCheck("accounts", store.Ready)
	return nil
}

// bootstrapAdmin creates the first admin account when the accounts hold
// none, and prints where its one-time password is. It logs a failure
// rather than stopping the process: an admin token can still set the
// password (tousu users passwd).
func (p *Process) bootstrapAdmin(ctx context.Context) error {
	path, err := p.accounts.Bootstrap(ctx, p.cfg.DataDir, time.Now())
	switch {
	case err != nil && ctx.Err() == nil:
		p.component("accounts").Error("could not create the first admin account", zap.Error(err))
	case path != "":
		fmt.Fprintf(p.out, "tousu: 已创建管理员账号 %s，一次性密码在 %s（首次登录时须修改）\n", accounts.AdminName, path)
		fmt.Fprintf(p.out, "tousu: 账号管理 API http://%s%s（命令行：tousu users）\n", p.HTTPAddr(), httpapi.PathAdminUsers)
	}
	return nil
}

// startNormalizer runs the normalizer; it threads e-mail replies through
// the index when this process can reach it.
func (p *Process) startNormalizer(context.Context) error {
	log := p.component("normalizer")
	stage, err := normalizer.New(normalizer.Deps{Writer: p.producer, SeenPath: filepath.Join(p.cfg.DataDir, "normalizer-seen.db"),
		SeenRetention: time.Duration(p.cfg.Normalize.SeenRetentionDays) * 24 * time.Hour, Index: p.index, Logger: log, Registry: p.registry})
	if err != nil {
		return err
	}
	p.closers = append(p.closers, stage)
	if p.index == nil {
		log.Warn("the embedded index runs in another process: an e-mail reply from an address other than the case's customer opens a case of its own (run the normalizer with the indexer, or use Elasticsearch)")
	}
	return p.consume(normalizer.Group, normalizer.Topics, stage.Handle, stage.Batch)
}

// startRouter runs the router with its state, its trained policy packs
// and the followers that keep them shared.
func (p *Process) startRouter(context.Context) error {
	packs, err := p.cfg.LoadPolicies(time.Now())
	if err != nil {
		return err
	}
	log := p.component("router")
	for _, e := range packs.Engines() {
		if err := e.CheckCoverageAhead(time.Now(), 45*24*time.Hour); err != nil {
			log.Warn("the working-day calendar runs out soon: add the next year's official arrangement", zap.String("pack", e.Name()), zap.Error(err))
		}
	}
	// The router owns the customers of its partitions and keeps their
	// recent cases for duplicate, repeat and batch detection.
	dedupe := p.cfg.Normalize.Dedupe
	state, err := routing.OpenHistory(filepath.Join(p.cfg.DataDir, "router-history.db"), dedupe, time.Now())
	if err != nil {
		return err
	}
	p.closers = append(p.closers, state)
	trained := routing.NewTrainedPacks(packs, state, p.cfg.Router.RetrainInterval, log, p.registry)
	if err := trained.Retrain(); err != nil {
		return fmt.Errorf("train classifiers with the stored corrections: %w", err)
	}
	p.runners = append(p.runners, trained.Run)
	// Every router instance trains on every agent's correction, whichever
	// instance owns the corrected case: the routers write corrections to
	// policy.corrections, and each follows all of its partitions into its
	// own state (no consumer group), catching up from the first offset at
	// every start.
	corrections, err := bus.NewFollower(p.cfg.Bus, bus.FollowerConfig{Topic: bus.TopicCorrections}, trained.FollowCorrection,
		log.With(zap.String("follower", "corrections")), p.registry)
	if err != nil {
		return fmt.Errorf("corrections follower: %w", err)
	}
	p.runners = append(p.runners, corrections.Run)
	// The customers' state goes to router.state too, so that the instance
	// that owns a partition next goes on where this one left off.
	changelog, err := bus.NewPartitionReader(p.cfg.Bus, bus.TopicRouterState, log.With(zap.String("reader", "router.state")), p.registry)
	if err != nil {
		return fmt.Errorf("router state reader: %w", err)
	}
	p.closers = append(p.closers, changelog)
	// What the router writes to customers on the outbox topic (its
	// templates were rendered against a sample case by Validate).
	var packNames []string
	for _, e := range packs.Engines() {
		packNames = append(packNames, e.Name())
	}
	notifier, err := p.cfg.Router.Notifier(packNames, p.surveyKey())
	if err != nil {
		return fmt.Errorf("router: %w", err)
	}
	stage := routing.New(routing.Deps{Writer: p.producer, Policy: trained, Engine: trained.ByName, Notifier: notifier, State: state, Changelog: changelog,
		Dedupe: dedupe, MaxRecordBytes: p.cfg.Router.MaxRecordBytes, Logger: log, Registry: p.registry})
	p.runners = append(p.runners, stage.Run)
	// Complaints and case actions come keyed by customer and
	// co-partitioned, so this instance owns both for its customers and is
	// the only writer of their cases.
	return p.consume(routing.Group, routing.Topics, stage.Handle, stage.Batch)
}

// startIndexer writes cases to the index.
func (p *Process) startIndexer(context.Context) error {
	stage := indexer.New(indexer.Deps{Index: p.index})
	inFlight := 1 // Bleve writes one batch at a time (see indexer.InFlight)
	if p.cfg.Index.Backend == "elasticsearch" {
		inFlight = indexer.InFlight
	}
	return p.consumeWith(bus.ConsumerConfig{Group: indexer.Group, Topic: indexer.Topics[0], Batch: stage.Batch, InFlight: inFlight}, stage.Handle)
}

// startEscalator runs the escalation clock.
func (p *Process) startEscalator(ctx context.Context) error {
	esc, err := escalator.New(escalator.Deps{Writer: p.producer, Path: filepath.Join(p.cfg.DataDir, "escalator.db"), Interval: p.cfg.Escalator.Interval,
		Logger: p.component("escalator"), Registry: p.registry})
	if err != nil {
		return err
	}
	p.closers = append(p.closers, esc)
	p.runners = append(p.runners, esc.Run)
	// A crashed escalator's group membership lasts a session timeout.
	wait, cancel := context.WithTimeout(ctx, 2*bus.DefaultSessionTimeout)
	defer cancel()
	if err := esc.Rewind(wait, p.cfg.Bus); err != nil {
		return err
	}
	return p.consume(escalator.Group, escalator.Topics, esc.Handle, esc.Batch)
}

// startBatcher runs batch detection (批量投诉) over the complaints of every
// router. It keeps its window in its own file, so a deployment runs one.
func (p *Process) startBatcher(context.Context) error {
	stage, err := batcher.New(batcher.Deps{Writer: p.producer, Path: filepath.Join(p.cfg.DataDir, "batcher.db"), Dedupe: p.cfg.Normalize.Dedupe,
		MaxRecordBytes: p.cfg.Router.MaxRecordBytes, Logger: p.component("batcher"), Registry: p.registry})
	if err != nil {
		return err
	}
	p.closers = append(p.closers, stage)
	p.runners = append(p.runners, stage.Run)
	return p.consume(batcher.Group, batcher.Topics, stage.Handle, stage.Batch)
}

// startAlerts delivers the notices of the alerts topic to the alert sinks.
func (p *Process) startAlerts(context.Context) error {
	stage, err := alerts.New(alerts.Deps{Config: p.cfg.Alerts, Logger: p.component("alerts"), Registry: p.registry})
	if err != nil {
		return fmt.Errorf("alerts: %w", err)
	}
	p.closers = append(p.closers, stage)
	return p.consume(alerts.Group, alerts.Topics, stage.Handle, nil)
}

// startSender delivers the outbox to customers. It keeps the ids of the
// messages it delivered in its own file, so a deployment runs one.
func (p *Process) startSender(context.Context) error {
	providers, err := sender.Providers(p.cfg.Sender, p.component("sms"))
	if err != nil {
		return fmt.Errorf("sender: %w", err)
	}
	stage, err := sender.New(sender.Deps{Writer: p.producer, Path: filepath.Join(p.cfg.DataDir, "sender.db"), Providers: providers,
		Config: p.cfg.Sender, Logger: p.component("sender"), Registry: p.registry})
	if err != nil {
		return fmt.Errorf("sender: %w", err)
	}
	p.closers = append(p.closers, stage)
	p.runners = append(p.runners, stage.Run)
	return p.consume(sender.Group, sender.Topics, stage.Handle, nil)
}

// consume runs a consumer of group on topics (the first the main one,
// the rest read together with it), handing messages to h, or batches of
// them to batch when it is not nil.
func (p *Process) consume(group string, topics []string, h bus.Handler, batch bus.BatchHandler) error {
	return p.consumeWith(bus.ConsumerConfig{Group: group, Topic: topics[0], CoTopics: topics[1:], Batch: batch}, h)
}

// consumeWith runs a consumer configured by cc, handing messages to h.
func (p *Process) consumeWith(cc bus.ConsumerConfig, h bus.Handler) error {
	topics := append([]string{cc.Topic}, cc.CoTopics...)
	c, err := bus.NewConsumer(p.cfg.Bus, cc, p.producer, h, p.component(strings.TrimPrefix(cc.Group, "tousu-")), p.registry)
	if err != nil {
		return fmt.Errorf("consumer %s: %w", cc.Group, err)
	}
	p.closers = append(p.closers, c)
	p.runners = append(p.runners, c.Run)
	if p.groups == nil {
		p.groups = map[string][]string{}
	}
	p.groups[cc.Group] = topics
	return nil
}

// lagInterval is how often a process refreshes the lag of its groups.
const lagInterval = 5 * time.Second

// watchLag reports the consumer lag of this process's groups in metrics.
func (p *Process) watchLag() error {
	if len(p.groups) == 0 {
		return nil
	}
	w, err := bus.NewLagWatcher(p.cfg.Bus, p.groups, p.registry, p.component("lag"))
	if err != nil {
		return err
	}
	p.runners = append(p.runners, func(ctx context.Context) error { return w.Run(ctx, lagInterval) })
	return nil
}

// ensureToken keeps an embedded installation's bootstrap admin token, in
// DATA/bootstrap-token: made at first start when no token is configured,
// and accepted beside the configured tokens as long as the file exists
// (deleting it retires it; it is not made again while auth.tokens lists
// tokens), unless a configured token is itself named "bootstrap"
// (TOUSU_BOOTSTRAP_TOKEN). It prints which tokens the process accepts.
func (p *Process) ensureToken() error {
	configured := len(p.cfg.Auth.Tokens)
	if !p.cfg.Embedded() && p.broker == nil {
		p.printTokens(configured)
		return nil
	}
	path := filepath.Join(p.cfg.DataDir, "bootstrap-token")
	if slices.ContainsFunc(p.cfg.Auth.Tokens, func(t httpapi.Token) bool { return t.Name == bootstrapName }) {
		p.printTokens(configured)
		if _, err := os.Stat(path); err == nil {
			fmt.Fprintf(p.out, "tousu: %s is not used: a configured token is named %q\n", path, bootstrapName)
		}
		return nil
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) && configured > 0 {
		p.printTokens(configured)
		return nil
	}
	token, created, err := secret.Generated(path, 24)
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(p.out, "tousu: generated an admin API token in %s\n", path)
	}
	p.cfg.Auth.Tokens = append(p.cfg.Auth.Tokens, httpapi.Token{Name: bootstrapName, Token: secret.Inline(token), Role: httpapi.RoleAdmin})
	fmt.Fprintf(p.out, "tousu: admin API token: %s (Authorization: Bearer $(cat %s))\n", path, path)
	if configured > 0 {
		p.printTokens(configured)
		fmt.Fprintf(p.out, "tousu: the bootstrap token is accepted beside auth.tokens; delete %s to retire it\n", path)
	}
	return p.cfg.Auth.Validate()
}

// bootstrapName is the account of the bootstrap admin token.
const bootstrapName = "bootstrap"

// printTokens prints how many of the accepted tokens come from the
// configuration and which of them are admins', or how to get an admin
// token when none is.
func (p *Process) printTokens(configured int) {
	if configured == 0 {
		return
	}
	var admins []string
	for _, t := range p.cfg.Auth.Tokens[:configured] {
		if t.Role == httpapi.RoleAdmin {
			admins = append(admins, t.Name)
		}
	}
	if len(admins) == 0 {
		fmt.Fprintf(p.out, "tousu: API tokens: %d configured, none of them an admin's (add one with role admin to auth.tokens, or set %s)\n", configured, EnvBootstrapToken)
		return
	}
	fmt.Fprintf(p.out, "tousu: API tokens: %d configured; admin: %s\n", configured, strings.Join(admins, ", "))
}

// loadKey loads the server secret for the targets that derive keys from
// it: the intake (reference numbers, the web form's CSRF tokens), the
// console (opaque customer keys, the status and survey pages) and, when
// it writes follow-up surveys, the router (their signed links). An
// embedded installation makes one in its data directory at first start;
// distributed replicas must share a configured one.
func (p *Process) loadKey() error {
	surveys := p.has(TargetRouter) && p.cfg.Router.Outbound.On(router.MessageSurvey)
	if !p.has(TargetGateway) && !p.has(TargetPoller) && !p.has(TargetConsole) && !surveys {
		return nil
	}
	key, created, err := serverkey.Load(p.cfg.Security, p.cfg.DataDir, p.cfg.Embedded() || p.broker != nil)
	if err != nil {
		return fmt.Errorf("security: %w", err)
	}
	if created {
		fmt.Fprintf(p.out, "tousu: generated the server secret in %s (back it up with the data)\n", filepath.Join(p.cfg.DataDir, serverkey.FileName))
	}
	p.key = key
	// Without a CSRF secret of its own, the web form signs its tokens with
	// a key derived from the server secret, which every replica shares.
	if !p.cfg.Webform.CSRFSecret.IsSet() {
		p.cfg.Webform.CSRFSecret = secret.Inline(hex.EncodeToString(key.Derive("csrf")))
	}
	return nil
}

// surveyKey signs and checks the follow-up surveys' links; nil when this
// process loaded no server secret (its router writes no surveys).
func (p *Process) surveyKey() []byte {
	if !p.key.Loaded() {
		return nil
	}
	return p.key.Derive("survey")
}

// HTTPAddr is the address the HTTP server listens on.
func (p *Process) HTTPAddr() string { return p.listener.Addr().String() }

// BrokerAddr is the embedded broker's address, or "" without one.
func (p *Process) BrokerAddr() string {
	if p.broker == nil {
		return ""
	}
	return p.broker.Addr()
}

func (p *Process) printAddresses() {
	base := "http://" + p.HTTPAddr()
	fmt.Fprintf(p.out, "tousu: running %s\n", joinTargets(p.targets))
	if p.broker != nil {
		fmt.Fprintf(p.out, "tousu: embedded Kafka-protocol broker on %s\n", p.broker.Addr())
	}
	if p.has(TargetPoller) {
		for _, f := range p.cfg.CSVDrop.Folders {
			fmt.Fprintf(p.out, "tousu: hotline CSV folder %s (%s)\n", f.Path, f.Name)
		}
		for _, m := range p.cfg.IMAP.Mailboxes {
			fmt.Fprintf(p.out, "tousu: mailbox %s (%s:%d/%s)\n", m.Name, m.Host, m.Port, m.Folder)
		}
	}
	if p.has(TargetSender) {
		for _, m := range p.cfg.Sender.SMTP {
			fmt.Fprintf(p.out, "tousu: sending e-mail     %s via %s:%d (%s)\n", m.From, m.Host, m.Port, m.Name)
		}
		if p.cfg.Sender.SMS.Provider != "" {
			fmt.Fprintf(p.out, "tousu: sending SMS        via %s\n", p.cfg.Sender.SMS.Provider)
		}
	}
	if p.has(TargetGateway) {
		fmt.Fprintf(p.out, "tousu: complaint form     %s/\n", base)
		fmt.Fprintf(p.out, "tousu: complaint API      POST %s/api/v1/complaints\n", base)
		fmt.Fprintf(p.out, "tousu: webhooks           POST %s/webhooks/{source}\n", base)
	}
	if p.has(TargetConsole) {
		fmt.Fprintf(p.out, "tousu: console            %s%s/ (sign in; the first account is admin)\n", base, console.Path)
		fmt.Fprintf(p.out, "tousu: case status page   %s/status (follow-up surveys: %s/survey)\n", base, base)
		fmt.Fprintf(p.out, "tousu: console API        %s/api/v1/cases?q=\n", base)
		fmt.Fprintf(p.out, "tousu: admin API          %s%s (admin token; tousu users)\n", base, httpapi.PathAdminUsers)
		fmt.Fprintf(p.out, "tousu: operations         %s%s (ops and admin accounts; dead letters: tousu dlq)\n", base, console.PathOps)
	}
	fmt.Fprintf(p.out, "tousu: metrics            %s/metrics (monitor, ops, admin or supervisor token; health: /healthz, /readyz)\n", base)
}

// Run serves until ctx ends or a component fails, then stops everything.
func (p *Process) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, len(p.runners)+1)
	var wg sync.WaitGroup
	run := func(f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil && ctx.Err() == nil {
				errc <- err
				cancel()
			}
		}()
	}
	for _, r := range p.runners {
		run(r)
	}
	run(func(ctx context.Context) error { return p.server.Serve(ctx, p.listener) })
	<-ctx.Done()
	wg.Wait()
	p.Close()
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

// Close stops the components in reverse start order.
func (p *Process) Close() {
	for i := len(p.closers) - 1; i >= 0; i-- {
		if err := p.closers[i].Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			p.logger.Warn("close", zap.Error(err))
		}
	}
	p.closers = nil
}
