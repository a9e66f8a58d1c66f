package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/stages/alerts"
	"github.com/tousu/tousu/services/stages/batcher"
	"github.com/tousu/tousu/services/stages/escalator"
	"github.com/tousu/tousu/services/stages/indexer"
	"github.com/tousu/tousu/services/stages/normalizer"
	"github.com/tousu/tousu/services/stages/routing"
	"github.com/tousu/tousu/services/stages/sender"
	"github.com/tousu/tousu/sinks/esindex"
)

// modeResult is what one mode measured.
type modeResult struct {
	Mode     string
	Versions []string
	// Intake: the gateway beside a plain producer and a no-op handler,
	// in `all` and alone (IntakeAlone, `-target gateway`).
	Producer, Intake, IntakeAlone, Noop rate
	// Normalizer and router alone beside a pass-through.
	NormRouter, PassThrough rate
	// The indexer alone beside a direct loader named DirectName.
	Indexer, Direct rate
	DirectName      string
	Sustained       rate
	Trickle, Half   latencies
	RefreshInterval time.Duration // 0: searchable when written (Bleve)
	// Soak is the run at the sustained rate (memory, goroutines, error
	// counters); CSV the hotline reader with a large GBK export.
	Soak soakResult
	CSV  csvResult
}

// idle is how long a phase may see no progress before it fails.
const idle = 2 * time.Minute

// measureMode runs every phase of one mode.
func measureMode(ctx context.Context, o options, mode string, log io.Writer) (modeResult, error) {
	say := func(format string, args ...any) {
		fmt.Fprintf(log, "bench: %s: "+format+"\n", append([]any{mode}, args...)...)
	}
	s, err := startStack(ctx, mode, o.verbose)
	if err != nil {
		return modeResult{}, err
	}
	defer s.close()
	res := modeResult{Mode: mode, Versions: s.versions, DirectName: "raw Bleve batches (same mapping and documents, 500 a batch)"}
	if s.esURL != "" {
		res.DirectName = "esutil.BulkIndexer (default settings, same documents and versions)"
		res.RefreshInterval = esindex.DefaultRefreshInterval
	}
	run := strconv.FormatUint(o.seed, 36)

	// 1. The plain producer writes the corpus to complaints.raw, where
	// normalizer and router then find it.
	corpus := newGenerator(o.seed, run).corpus(o.complaints)
	msgs := make([]kafka.Message, len(corpus))
	for i, c := range corpus {
		env := c.envelope(run, i, time.Now())
		b, err := ingest.EncodeJSON(env)
		if err != nil {
			return res, err
		}
		msgs[i] = kafka.Message{Key: []byte(env.ID), Value: b}
	}
	casesBefore, err := s.endOffsets(ctx, bus.TopicCases)
	if err != nil {
		return res, err
	}
	plainTopic := bus.TopicRaw
	if o.intakeOnly {
		// No stage alone follows to consume them: the records go to a
		// topic of this run, with complaints.raw's partitions.
		plainTopic = "bench.plain." + run
		if _, err := bus.ApplyTopics(ctx, s.bus, []bus.TopicSpec{{Name: plainTopic, CleanupPolicy: "delete", Retention: time.Hour}}); err != nil {
			return res, err
		}
	}
	if res.Producer, err = labelled(ctx, "producer", func(ctx context.Context) (rate, error) { return plainProducer(ctx, s.bus, plainTopic, o.clients, msgs) }); err != nil {
		return res, fmt.Errorf("plain producer: %w", err)
	}
	say("plain producer %s", measured(res.Producer))
	if !o.intakeOnly {
		if err := s.stagesAlone(ctx, &res, o, run, casesBefore, say); err != nil {
			return res, err
		}
		if o.indexerOnly || o.routerOnly {
			return res, nil
		}
	}

	// 4. Every target in one process: HTTP intake, the whole pipeline,
	// submit → searchable.
	p, err := s.startTousu(ctx, "all")
	if err != nil {
		return res, err
	}
	defer p.stopOnce()
	hc := httpClient(o.clients)
	bodies := func(seed uint64, n int) [][]byte {
		var out [][]byte
		for _, c := range newGenerator(seed, run).corpus(n) {
			b, err := json.Marshal(c)
			if err != nil {
				panic(err) // strings only: cannot happen
			}
			out = append(out, b)
		}
		return out
	}
	pipeline := []groupTopic{{normalizer.Group, bus.TopicRaw}, {routing.Group, bus.TopicNormalized}, {routing.Group, bus.TopicActions}, {indexer.Group, bus.TopicCases}}
	warm := bodies(o.seed+1, 1)[0]
	ref, err := post(ctx, hc, p.base, warm)
	if err != nil {
		return res, fmt.Errorf("first complaint: %w", err)
	}
	if found, err := pollFound(ctx, hc, p.base, ref, time.Now().Add(idle)); err != nil || !found {
		return res, fmt.Errorf("first complaint %s never searchable (%v)", ref, err)
	}
	// The stages that ran alone before left their output on the topics
	// that the escalator, the batcher, the sender and the alerts follow,
	// which `all` then starts to catch up with: intake is measured once
	// every group of the process has caught up, as in an installation
	// that runs.
	if _, err := s.drain(ctx, append(pipeline, []groupTopic{{escalator.Group, bus.TopicCases}, {batcher.Group, bus.TopicBatch},
		{sender.Group, bus.TopicOutbox}, {alerts.Group, bus.TopicAlerts}}...), time.Now(), idle); err != nil {
		return res, fmt.Errorf("catching up before the intake: %w", err)
	}
	intake := bodies(o.seed+2, o.complaints)
	base, stopNoop, err := noopServer()
	if err != nil {
		return res, err
	}
	res.Noop, err = labelled(ctx, "noop", func(ctx context.Context) (rate, error) {
		return hammer(ctx, o.clients, intake, func(ctx context.Context, b []byte) error { _, err := post(ctx, hc, base, b); return err })
	})
	stopNoop()
	if err != nil {
		return res, fmt.Errorf("no-op handler: %w", err)
	}
	say("no-op handler %s", measured(res.Noop))
	start := time.Now()
	if res.Intake, err = labelled(ctx, "intake", func(ctx context.Context) (rate, error) {
		return hammer(ctx, o.clients, intake, func(ctx context.Context, b []byte) error { _, err := post(ctx, hc, p.base, b); return err })
	}); err != nil {
		return res, fmt.Errorf("intake: %w", err)
	}
	say("HTTP intake %s", measured(res.Intake))
	d, err := s.drain(ctx, pipeline, start, idle)
	if err != nil {
		return res, fmt.Errorf("pipeline: %w", err)
	}
	res.Sustained = rate{n: res.Intake.n, d: d}
	say("whole pipeline %.0f/s", res.Sustained.perSec())

	if res.Trickle, err = searchable(ctx, hc, p.base, bodies(o.seed+3, 2000), 5, o.latencyFor); err != nil {
		return res, fmt.Errorf("trickle: %w", err)
	}
	say("trickle p50 %s", quantile(res.Trickle.samples, 0.5))
	half := max(5, res.Sustained.perSec()/2)
	if res.Half, err = searchable(ctx, hc, p.base, bodies(o.seed+4, 5000), half, o.latencyFor); err != nil {
		return res, fmt.Errorf("at half the sustained rate: %w", err)
	}
	say("at %.0f/s p50 %s", half, quantile(res.Half.samples, 0.5))
	if !o.intakeOnly {
		say("soak at %.0f/s for %s", res.Sustained.perSec(), o.soak)
		if res.Soak, err = soakPhase(ctx, hc, p, o.seed, run, res.Sustained.perSec(), o.soak, heapProfiles(o.heapProfile, res.Mode)); err != nil {
			return res, fmt.Errorf("soak: %w", err)
		}
		say("soak: peak RSS %.0f MiB, RSS slope %+.2f MiB/min", res.Soak.Summary.RSS.Peak/(1<<20), res.Soak.Summary.RSS.SlopePerMinute/(1<<20))
	}

	// 5. The gateway alone, last: nothing consumes what it publishes.
	if err := p.stop(); err != nil {
		return res, err
	}
	if res.IntakeAlone, err = labelled(ctx, "gateway-alone", func(ctx context.Context) (rate, error) {
		return gatewayAlone(ctx, s, hc, o.clients, bodies(o.seed+5, o.complaints))
	}); err != nil {
		return res, fmt.Errorf("gateway alone: %w", err)
	}
	say("HTTP intake alone %s", measured(res.IntakeAlone))

	if o.intakeOnly {
		return res, nil
	}

	// 6. The hotline reader with a large GBK export.
	if res.CSV, err = csvPhase(ctx, s, run, o.csvRows); err != nil {
		return res, fmt.Errorf("hotline export: %w", err)
	}
	say("hotline reader %.0f rows/s, raw decode %.0f rows/s", res.CSV.Reader.perSec(), res.CSV.Decode.perSec())
	return res, nil
}

// stagesAlone measures normalizer and router alone beside a pass-through,
// then the indexer alone beside its direct loader, over the records the
// plain producer wrote to complaints.raw after casesBefore.
func (s *stack) stagesAlone(ctx context.Context, res *modeResult, o options, run string, casesBefore map[int]int64, say func(string, ...any)) error {
	var err error
	// 2. Normalizer and router alone, then a pass-through over the same
	// records.
	res.NormRouter, err = labelled(ctx, "normalizer-router", func(ctx context.Context) (rate, error) {
		return s.timed(ctx, []groupTopic{{normalizer.Group, bus.TopicRaw}, {routing.Group, bus.TopicNormalized}}, s.starter(ctx, "normalizer,router"))
	})
	if err != nil {
		return fmt.Errorf("normalizer+router: %w", err)
	}
	say("normalizer+router %s", measured(res.NormRouter))
	if res.PassThrough, err = labelled(ctx, "pass-through", func(ctx context.Context) (rate, error) { return passThrough(ctx, s, run) }); err != nil {
		return fmt.Errorf("pass-through: %w", err)
	}
	say("pass-through %s", measured(res.PassThrough))
	if o.routerOnly {
		return nil
	}

	// 3. The indexer alone over the cases the router wrote, then the
	// direct loader with the same cases.
	casesAfter, err := s.endOffsets(ctx, bus.TopicCases)
	if err != nil {
		return err
	}
	// The embedded index admits one process: there the console runs
	// beside the indexer, idle.
	targets := "indexer"
	if s.esURL == "" {
		targets = "indexer,console"
	} else if _, err := createIndex(ctx, s, s.prefix); err != nil {
		return fmt.Errorf("indexer: %w", err)
	}
	res.Indexer, err = labelled(ctx, "indexer", func(ctx context.Context) (rate, error) {
		return s.timed(ctx, []groupTopic{{indexer.Group, bus.TopicCases}}, s.starter(ctx, targets))
	})
	if err != nil {
		return fmt.Errorf("indexer: %w", err)
	}
	say("indexer %s", measured(res.Indexer))
	records, err := s.readRange(ctx, bus.TopicCases, casesBefore, casesAfter)
	if err != nil {
		return err
	}
	cases, err := decodeCases(records)
	if err != nil {
		return err
	}
	res.Direct, err = labelled(ctx, "direct", func(ctx context.Context) (rate, error) {
		if s.esURL != "" {
			return bulkIndexer(ctx, s, cases)
		}
		return rawBleve(s.dir, cases, bus.DefaultMaxBatch)
	})
	if err != nil {
		return fmt.Errorf("direct loader: %w", err)
	}
	say("direct loader %s", measured(res.Direct))
	return nil
}

// gatewayAlone times the HTTP intake of the gateway target alone (`tousu
// serve -target gateway`), with clients posting bodies.
func gatewayAlone(ctx context.Context, s *stack, hc *http.Client, clients int, bodies [][]byte) (rate, error) {
	g, err := s.startTousu(ctx, "gateway")
	if err != nil {
		return rate{}, err
	}
	defer g.stop()
	if _, err := post(ctx, hc, g.base, bodies[0]); err != nil {
		return rate{}, fmt.Errorf("first complaint: %w", err)
	}
	return hammer(ctx, clients, bodies[1:], func(ctx context.Context, b []byte) error { _, err := post(ctx, hc, g.base, b); return err })
}

// passThrough consumes complaints.raw and produces each record unchanged
// to a topic, which a second group consumes and produces to another: the
// two hops of normalizer and router with no processing, through the same
// bus consumers and producer.
func passThrough(ctx context.Context, s *stack, run string) (rate, error) {
	// Topics of this run, so that the second hop starts empty.
	hops := []string{"bench.pass.normalized." + run, "bench.pass.cases." + run}
	var specs []bus.TopicSpec
	for _, t := range hops {
		specs = append(specs, bus.TopicSpec{Name: t, CleanupPolicy: "delete", Retention: time.Hour})
	}
	if _, err := bus.ApplyTopics(ctx, s.bus, specs); err != nil {
		return rate{}, err
	}
	producer, err := bus.NewProducer(s.bus, nil, nil)
	if err != nil {
		return rate{}, err
	}
	defer producer.Close()
	var chain []groupTopic
	for i := range hops {
		from := bus.TopicRaw
		if i > 0 {
			from = hops[i-1]
		}
		chain = append(chain, groupTopic{fmt.Sprintf("bench-pass-%d-%s", i, run), from})
	}
	return s.timed(ctx, chain, func() (func() error, error) {
		ctx, cancel := context.WithCancel(ctx)
		var consumers []*bus.Consumer
		stop := func() error {
			cancel()
			for _, c := range consumers {
				c.Close()
			}
			return nil
		}
		for i, gt := range chain {
			to := hops[i]
			forward := func(ctx context.Context, msgs []bus.Message) error {
				out := make([]bus.Message, len(msgs))
				for j, m := range msgs {
					out[j] = bus.Message{Topic: to, Key: m.Key, Value: m.Value}
				}
				return producer.Write(ctx, out...)
			}
			c, err := bus.NewConsumer(s.bus, bus.ConsumerConfig{Group: gt.group, Topic: gt.topic, Batch: forward}, producer,
				func(ctx context.Context, m bus.Message) error { return forward(ctx, []bus.Message{m}) }, zap.NewNop(), nil)
			if err != nil {
				stop()
				return nil, err
			}
			consumers = append(consumers, c)
			go c.Run(ctx)
		}
		return stop, nil
	})
}
