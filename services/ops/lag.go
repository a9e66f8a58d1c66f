package ops

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"
)

// PartitionLag is how far a consumer group has read one partition.
type PartitionLag struct {
	Partition int `json:"partition"`
	// Lag is the records not yet committed; End the offset the next
	// record written gets.
	Lag int64 `json:"lag"`
	End int64 `json:"end"`
	// Oldest is when the oldest record not yet processed (the first
	// uncommitted one) was written; zero without lag.
	Oldest time.Time `json:"oldest,omitzero"`
}

// GroupLag is the lag of one consumer group on one topic it reads: per
// partition the records not yet committed, their sum, and the consumers
// attached to the group (0 when no process runs it, whatever its lag).
// The rates are records written to the topic (in) and committed by the
// group (out) per second since the previous sample; nil when there is no
// previous sample to compare with.
type GroupLag struct {
	Group      string        `json:"group"`
	Topic      string        `json:"topic"`
	Members    int           `json:"members"`
	Partitions map[int]int64 `json:"partitions"`
	Total      int64         `json:"total"`
	Error      string        `json:"error,omitempty"`
	// Details are the partitions with their end offsets and oldest
	// unprocessed record, in partition order.
	Details   []PartitionLag `json:"details,omitempty"`
	InPerSec  *float64       `json:"in_per_sec,omitempty"`
	OutPerSec *float64       `json:"out_per_sec,omitempty"`
	// Oldest is the oldest unprocessed record over the partitions.
	Oldest time.Time `json:"oldest,omitzero"`
}

// Key names the group and topic of a GroupLag.
func (g GroupLag) Key() string { return g.Group + " · " + g.Topic }

// read is the offset up to which the group has read: the end minus the
// lag, summed over the partitions.
func (g GroupLag) read() (read, end int64) {
	for _, p := range g.Details {
		read += p.End - p.Lag
		end += p.End
	}
	return read, end
}

// Sample is the pipeline's lag at one time.
type Sample struct {
	At     time.Time  `json:"at"`
	Groups []GroupLag `json:"groups"`
}

// WithRates returns cur with the rates of every group and topic against
// prev, the sample before it (their records written and committed per
// second); groups absent from prev, or with partitions that changed,
// keep nil rates.
func WithRates(prev, cur Sample) Sample {
	secs := cur.At.Sub(prev.At).Seconds()
	before := map[string]GroupLag{}
	for _, g := range prev.Groups {
		before[g.Key()] = g
	}
	out := Sample{At: cur.At, Groups: make([]GroupLag, len(cur.Groups))}
	for i, g := range cur.Groups {
		out.Groups[i] = g
		p, ok := before[g.Key()]
		if !ok || secs <= 0 || len(p.Details) != len(g.Details) || len(g.Details) == 0 {
			continue
		}
		r0, e0 := p.read()
		r1, e1 := g.read()
		in, read := float64(max(e1-e0, 0))/secs, float64(max(r1-r0, 0))/secs
		out.Groups[i].InPerSec, out.Groups[i].OutPerSec = &in, &read
	}
	return out
}

// HistorySize is how many samples a History keeps: an hour of samples
// taken every SampleEvery.
const HistorySize = int(time.Hour / SampleEvery)

// SampleEvery is how often a console samples the lag.
const SampleEvery = 15 * time.Second

// History is a ring buffer of the last HistorySize lag samples, with their
// rates. Each console replica keeps its own, so a replica started a
// minute ago shows a minute. Its methods are safe for concurrent use.
type History struct {
	mu   sync.Mutex
	ring []Sample
	next int
	full bool
}

// NewHistory returns an empty History of size samples.
func NewHistory(size int) *History { return &History{ring: make([]Sample, size)} }

// Add records s, with its rates against the sample before it, dropping
// the oldest sample when the buffer is full; it returns s with rates.
func (h *History) Add(s Sample) Sample {
	h.mu.Lock()
	defer h.mu.Unlock()
	if last, ok := h.lastLocked(); ok {
		s = WithRates(last, s)
	}
	h.ring[h.next] = s
	h.next = (h.next + 1) % len(h.ring)
	h.full = h.full || h.next == 0
	return s
}

// lastLocked is the newest sample; h.mu is held.
func (h *History) lastLocked() (Sample, bool) {
	if !h.full && h.next == 0 {
		return Sample{}, false
	}
	return h.ring[(h.next+len(h.ring)-1)%len(h.ring)], true
}

// Before returns the newest sample taken at or before t.
func (h *History) Before(t time.Time) (Sample, bool) {
	s := h.Samples()
	for i := len(s) - 1; i >= 0; i-- {
		if !s[i].At.After(t) {
			return s[i], true
		}
	}
	return Sample{}, false
}

// Samples returns the samples kept, oldest first.
func (h *History) Samples() []Sample {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.full {
		return append([]Sample(nil), h.ring[:h.next]...)
	}
	return append(append([]Sample(nil), h.ring[h.next:]...), h.ring[:h.next]...)
}

// Sampler asks lag for the pipeline's lag every SampleEvery and keeps it
// in a History.
type Sampler struct {
	History *History
	lag     func(ctx context.Context) []GroupLag
	logger  *zap.Logger
}

// NewSampler returns a Sampler of lag with an hour of history.
func NewSampler(lag func(ctx context.Context) []GroupLag, logger *zap.Logger) *Sampler {
	return &Sampler{History: NewHistory(HistorySize), lag: lag, logger: logger}
}

// Sample asks for the lag once, at now, and records it.
func (s *Sampler) Sample(ctx context.Context, now time.Time) Sample {
	return s.History.Add(Sample{At: now.UTC(), Groups: s.lag(ctx)})
}

// Run samples at once and then every SampleEvery until ctx ends; it
// returns nil then.
func (s *Sampler) Run(ctx context.Context) error {
	t := time.NewTicker(SampleEvery)
	defer t.Stop()
	for {
		sctx, cancel := context.WithTimeout(ctx, SampleEvery)
		s.Sample(sctx, time.Now())
		cancel()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
