// Package spool keeps the complaints the gateway accepted while the broker
// could not take them, on local disk, and relays them to the broker in
// order once it is back.
//
// A submission goes to the broker directly while the spool is empty. When
// the broker does not acknowledge it within Config.BrokerWait, or while
// older submissions are still waiting in the spool, the envelope is written
// to a file of its own in the spool's folder and synced to disk (the file,
// then the folder) before Publish returns, so the customer's receipt never
// names a complaint that a crash could lose. Run relays the files oldest
// first, many to a request (Config.RelayBatch), and removes each once the
// broker acknowledged it. A relay that
// repeats a publish the broker had in fact taken (a timeout after the
// write, a crash between the acknowledgement and the removal) is harmless:
// the envelope keeps its id, and the normalizer drops an id it has seen.
//
// The spool is bounded by Config.MaxBytes: past it Publish fails with
// ErrFull and the gateway answers 503 with Retry-After, as it does when
// the broker is down and nothing is spooled.
package spool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/internal/backoff"
	"github.com/tousu/tousu/internal/durable"
)

// Defaults of Config.
const (
	DefaultMaxBytes   = 1 << 30
	DefaultBrokerWait = 2 * time.Second
	// DefaultRelayWait bounds the wait for the broker's acknowledgement of
	// one relayed envelope.
	DefaultRelayWait = 10 * time.Second
	// DefaultRelayBatch is Config.RelayBatch's default.
	DefaultRelayBatch = 100
)

// PublishBatch hands envelopes to the broker and returns nil once it has
// acknowledged every one of them, in one request where it can, so that a
// relay after an outage moves a backlog at the broker's pace rather than
// one round trip per complaint. It is called from one goroutine at a time
// per caller and must return when ctx ends.
type PublishBatch func(ctx context.Context, envs ...ingest.Envelope) error

// ErrFull is returned by Publish when the spool holds Config.MaxBytes.
var ErrFull = errors.New("spool: full")

// Config says how much the spool may hold and how long a submission waits
// for the broker before it is spooled.
type Config struct {
	// MaxBytes bounds the encoded envelopes the spool holds together
	// (default DefaultMaxBytes, 1 GiB). Attachments are in the attachment
	// store, not here.
	MaxBytes int64 `yaml:"max_bytes"`
	// BrokerWait is how long a submission waits for the broker's
	// acknowledgement before it is spooled instead (default 2s).
	BrokerWait time.Duration `yaml:"broker_wait"`
	// RelayWait bounds the wait for the broker's acknowledgement of a
	// relayed batch (default 10s).
	RelayWait time.Duration `yaml:"relay_wait"`
	// RelayBatch is how many spooled envelopes one relay request carries
	// at most (default 100), within RelayBatchBytes.
	RelayBatch int `yaml:"relay_batch"`
}

// RelayBatchBytes bounds the encoded envelopes of one relay request.
const RelayBatchBytes = 1 << 20

// Provision fills the defaults.
func (c *Config) Provision() {
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.BrokerWait == 0 {
		c.BrokerWait = DefaultBrokerWait
	}
	if c.RelayWait == 0 {
		c.RelayWait = DefaultRelayWait
	}
	if c.RelayBatch == 0 {
		c.RelayBatch = DefaultRelayBatch
	}
}

// Validate checks the bounds.
func (c Config) Validate() error {
	var errs []error
	if c.MaxBytes < 0 {
		errs = append(errs, errors.New("max_bytes: must not be negative"))
	}
	if c.BrokerWait < 0 {
		errs = append(errs, errors.New("broker_wait: must not be negative"))
	}
	if c.RelayWait < 0 {
		errs = append(errs, errors.New("relay_wait: must not be negative"))
	}
	if c.RelayBatch < 0 {
		errs = append(errs, errors.New("relay_batch: must not be negative"))
	}
	return errors.Join(errs...)
}

// entry is one spooled envelope: its file and when it was spooled.
type entry struct {
	seq  uint64
	size int64
	at   time.Time
}

// name is the entry's file name: its sequence number, zero-padded so that
// names sort in spooling order.
func (e entry) name() string { return fmt.Sprintf("%020d.json", e.seq) }

// Spool is the gateway's durable spool. Publish may be called from many
// goroutines; Run is called once.
type Spool struct {
	dir     string
	cfg     Config
	publish PublishBatch
	log     *zap.Logger
	m       metrics

	mu      sync.Mutex
	entries []entry // oldest first
	bytes   int64
	next    uint64
	wake    chan struct{}
}

// Open opens the spool in dir, creating the folder, and takes over the
// envelopes an earlier process left there; publish is the broker's
// publish, which Publish tries first (with one envelope) and Run relays
// with (with up to Config.RelayBatch). reg may be nil.
func Open(dir string, cfg Config, publish PublishBatch, log *zap.Logger, reg prometheus.Registerer) (*Spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	s := &Spool{dir: dir, cfg: cfg, publish: publish, log: log, wake: make(chan struct{}, 1)}
	files, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	for _, f := range files {
		name := f.Name()
		if strings.HasSuffix(name, durable.TempSuffix) {
			// A write that never reached its rename: Publish did not
			// return for it, so no receipt names it.
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return nil, fmt.Errorf("spool: %w", err)
			}
			continue
		}
		seq, err := strconv.ParseUint(strings.TrimSuffix(name, ".json"), 10, 64)
		if err != nil || !strings.HasSuffix(name, ".json") {
			continue
		}
		info, err := f.Info()
		if err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
		s.entries = append(s.entries, entry{seq: seq, size: info.Size(), at: info.ModTime()})
		s.bytes += info.Size()
		s.next = max(s.next, seq+1)
	}
	slices.SortFunc(s.entries, func(a, b entry) int { return compare(a.seq, b.seq) })
	s.m = newMetrics(reg, s.Depth)
	if len(s.entries) > 0 {
		log.Info("spooled complaints to relay", zap.Int("count", len(s.entries)), zap.Int64("bytes", s.bytes))
	}
	return s, nil
}

func compare(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Publish hands env to the broker, or, when the broker does not take it
// within Config.BrokerWait or older envelopes are still spooled, writes it
// to the spool. It returns nil once the broker acknowledged env or env is
// on disk; ErrFull when the spool has no room; another error when env
// could not be written. It is safe for concurrent use.
func (s *Spool) Publish(ctx context.Context, env ingest.Envelope) error {
	if n, _, _ := s.Depth(); n == 0 {
		wait, cancel := context.WithTimeout(ctx, s.cfg.BrokerWait)
		err := s.publish(wait, env)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		s.log.Warn("broker did not take a complaint: spooling it", zap.String("id", env.ID), zap.Error(err))
	}
	return s.put(env)
}

// put writes env to a new file of the spool and syncs it.
func (s *Spool) put(env ingest.Envelope) error {
	b, err := ingest.EncodeJSON(env)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	s.mu.Lock()
	if s.bytes+int64(len(b)) > s.cfg.MaxBytes {
		s.mu.Unlock()
		s.m.refused.Inc()
		return ErrFull
	}
	e := entry{seq: s.next, size: int64(len(b)), at: time.Now()}
	s.next++
	s.bytes += e.size // reserved while writing
	s.mu.Unlock()
	if err := durable.WritePath(filepath.Join(s.dir, e.name()), b, 0o600); err != nil {
		s.mu.Lock()
		s.bytes -= e.size
		s.mu.Unlock()
		return fmt.Errorf("spool: %w", err)
	}
	s.mu.Lock()
	// Keep the order of sequence numbers: a later write may finish first.
	i, _ := slices.BinarySearchFunc(s.entries, e.seq, func(x entry, seq uint64) int { return compare(x.seq, seq) })
	s.entries = slices.Insert(s.entries, i, e)
	s.mu.Unlock()
	s.m.spooled.Inc()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return nil
}

// Depth returns how many envelopes the spool holds, when the oldest was
// spooled (zero when none) and their size in bytes.
func (s *Spool) Depth() (n int, oldest time.Time, bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.entries) > 0 {
		oldest = s.entries[0].at
	}
	return len(s.entries), oldest, s.bytes
}

// Room reports an error while the spool is full, for the gateway's
// readiness: a load balancer then sends submissions to another replica.
func (s *Spool) Room(context.Context) error {
	n, _, bytes := s.Depth()
	if bytes >= s.cfg.MaxBytes {
		return fmt.Errorf("spool full: %d complaints, %d bytes waiting for the broker", n, bytes)
	}
	return nil
}

// Run relays the spooled envelopes to the broker, oldest first, until ctx
// ends; after a failure it waits a little longer each time before it
// tries the same envelope again. It returns nil when ctx ends.
func (s *Spool) Run(ctx context.Context) error {
	failures := 0
	for {
		batch := s.oldest()
		if len(batch) == 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-s.wake:
				continue
			}
		}
		if err := s.relay(ctx, batch); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			failures++
			if failures == 1 || failures%10 == 0 {
				s.log.Warn("relay of spooled complaints failed; trying again", zap.Int("failures", failures), zap.Error(err))
			}
			if !backoff.Sleep(ctx, backoff.Capped(200*time.Millisecond, 30*time.Second, failures)) {
				return nil
			}
			continue
		}
		if failures > 0 {
			s.log.Info("broker takes spooled complaints again", zap.Int("failures", failures))
		}
		failures = 0
	}
}

// oldest returns the oldest entries, as many as one relay request
// carries.
func (s *Spool) oldest() []entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []entry
	var bytes int64
	for _, e := range s.entries {
		if len(out) == s.cfg.RelayBatch || (len(out) > 0 && bytes+e.size > RelayBatchBytes) {
			break
		}
		out = append(out, e)
		bytes += e.size
	}
	return out
}

// relay publishes the envelopes of batch, oldest first, and removes their
// files. A file that no longer decodes is moved aside into the folder
// "unreadable" with an error in the log, never deleted.
func (s *Spool) relay(ctx context.Context, batch []entry) error {
	var envs []ingest.Envelope
	var sent []entry
	for _, e := range batch {
		b, err := os.ReadFile(filepath.Join(s.dir, e.name()))
		if err != nil {
			return err
		}
		var env ingest.Envelope
		if err := json.Unmarshal(b, &env); err != nil || env.ID == "" {
			if err := s.setAside(e, fmt.Errorf("decode: %v", err)); err != nil {
				return err
			}
			continue
		}
		envs, sent = append(envs, env), append(sent, e)
	}
	if len(envs) == 0 {
		return nil
	}
	wait, cancel := context.WithTimeout(ctx, s.cfg.RelayWait)
	err := s.publish(wait, envs...)
	cancel()
	if err != nil {
		return err
	}
	for _, e := range sent {
		if err := os.Remove(filepath.Join(s.dir, e.name())); err != nil {
			return err
		}
		s.drop(e)
	}
	s.m.relayed.Add(float64(len(sent)))
	return nil
}

// setAside moves the file of e out of the relay's way.
func (s *Spool) setAside(e entry, why error) error {
	aside := filepath.Join(s.dir, "unreadable")
	if err := os.MkdirAll(aside, 0o700); err != nil {
		return err
	}
	if err := os.Rename(filepath.Join(s.dir, e.name()), filepath.Join(aside, e.name())); err != nil {
		return err
	}
	s.log.Error("spooled file unreadable: moved aside", zap.String("file", filepath.Join(aside, e.name())), zap.Error(why))
	s.drop(e)
	s.m.unreadable.Inc()
	return nil
}

// drop forgets e.
func (s *Spool) drop(e entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, found := slices.BinarySearchFunc(s.entries, e.seq, func(x entry, seq uint64) int { return compare(x.seq, seq) })
	if found {
		s.entries = slices.Delete(s.entries, i, i+1)
		s.bytes -= e.size
	}
}
