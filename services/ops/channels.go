package ops

import (
	"cmp"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/tousu/tousu/ingest"
)

// The silent rule (see Silent).
const (
	// SilentRhythm is how many recent messages a channel must have had
	// for it to have a rhythm at all.
	SilentRhythm = 4
	// SilentFactor is how many of its usual gaps a channel may stay quiet.
	SilentFactor = 4
	// SilentFloor is the shortest quiet that counts as silent, so that a
	// busy channel is not silent after a pause of a few minutes.
	SilentFloor = 15 * time.Minute
	// recentKept is how many message times a channel keeps for its rhythm.
	recentKept = 32
)

// Silent reports whether a channel has gone silent at now, given the times
// of its recent messages in order (the last 32 at most): it had a rhythm
// (at least SilentRhythm messages, so three gaps or more) and it has been
// quiet since its last message for more than SilentFactor times its usual
// gap — the median of the gaps between those messages, which one burst or
// one lull does not move — and for more than SilentFloor. A channel that
// never had a rhythm is never silent: a mailbox that gets one mail a week
// says nothing by staying quiet for a day.
func Silent(recent []time.Time, now time.Time) bool {
	if len(recent) < SilentRhythm {
		return false
	}
	gaps := make([]time.Duration, 0, len(recent)-1)
	for i := 1; i < len(recent); i++ {
		gaps = append(gaps, max(recent[i].Sub(recent[i-1]), 0))
	}
	slices.Sort(gaps)
	usual := gaps[len(gaps)/2]
	quiet := now.Sub(recent[len(recent)-1])
	return quiet > SilentFloor && quiet > SilentFactor*usual
}

// ChannelHealth is how one intake channel fares, as the process that runs
// it sees it.
type ChannelHealth struct {
	// Kind is the channel (email, hotline, webhook, webform).
	Kind ingest.Channel `json:"kind"`
	// Name is the mailbox, hotline folder or webhook source; empty for the
	// web form.
	Name string `json:"name,omitempty"`
	// LastSuccess is when the channel last accepted a message or, for a
	// mailbox, completed a poll; zero before either.
	LastSuccess time.Time `json:"last_success,omitzero"`
	// LastMessage is when the channel last handed a complaint to the
	// broker; zero before the first.
	LastMessage time.Time `json:"last_message,omitzero"`
	// Hour and Day count the messages of the last hour and day.
	Hour int `json:"hour"`
	Day  int `json:"day"`
	// Errors counts failures since the process started: a publish the
	// broker did not acknowledge, what the channel refused (Refused) and,
	// for a mailbox, failed polls in a row.
	Errors int `json:"errors"`
	// Refused counts by class what the channel refused since the process
	// started: hotline rows that are no complaint and files sent back
	// whole, webhook requests whose signature, timestamp or content does
	// not hold. Each counts in Errors too.
	Refused map[string]int `json:"refused,omitempty"`
	// LastError is the text of the latest failure (never a secret).
	LastError string `json:"last_error,omitempty"`
	// Quarantined counts messages set aside to the dead letters since the
	// process started.
	Quarantined int `json:"quarantined"`
	// Silent tells that the channel has gone quiet for longer than its
	// usual rhythm (see Silent).
	Silent bool `json:"silent"`
}

// Key names a channel uniquely: kind, then the name when it has one.
func (h ChannelHealth) Key() string { return channelKey(h.Kind, h.Name) }

func channelKey(kind ingest.Channel, name string) string {
	if name == "" {
		return string(kind)
	}
	return string(kind) + ":" + name
}

// minutesPerDay is the length of a channel's ring of per-minute counts.
const minutesPerDay = 24 * 60

// channel is the record of one channel.
type channel struct {
	health ChannelHealth
	// counts holds messages per minute; minute[i] says which minute
	// (Unix minutes) counts[i] counts, so stale slots read as zero.
	counts [minutesPerDay]int32
	minute [minutesPerDay]int64
	recent []time.Time
	// pollErrors are a mailbox's failed polls in a row, reported apart
	// from the publish failures.
	pollErrors int
}

// Channels records the activity of a process's intake channels. The
// methods are safe for concurrent use and do not block on anything but
// the Channels' own lock.
type Channels struct {
	mu sync.Mutex
	by map[string]*channel
}

// NewChannels returns a Channels that knows the channels declared, so
// that a channel that never received anything is shown too.
func NewChannels(declared ...ChannelHealth) *Channels {
	c := &Channels{by: map[string]*channel{}}
	for _, d := range declared {
		c.get(d.Kind, d.Name)
	}
	return c
}

// get returns the record of a channel, creating it; c.mu is held.
func (c *Channels) get(kind ingest.Channel, name string) *channel {
	k := channelKey(kind, name)
	ch, ok := c.by[k]
	if !ok {
		ch = &channel{health: ChannelHealth{Kind: kind, Name: name}}
		c.by[k] = ch
	}
	return ch
}

// Accepted records a message the channel handed to the broker at at.
func (c *Channels) Accepted(kind ingest.Channel, name string, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := c.get(kind, name)
	m := at.Unix() / 60
	i := int(m % minutesPerDay)
	if ch.minute[i] != m {
		ch.minute[i], ch.counts[i] = m, 0
	}
	ch.counts[i]++
	if at.After(ch.health.LastMessage) {
		ch.health.LastMessage = at
	}
	if at.After(ch.health.LastSuccess) {
		ch.health.LastSuccess = at
	}
	// Concurrent publishes may finish out of order: keep the times sorted.
	i, _ = slices.BinarySearchFunc(ch.recent, at, time.Time.Compare)
	ch.recent = slices.Insert(ch.recent, i, at)
	if len(ch.recent) > recentKept {
		ch.recent = slices.Delete(ch.recent, 0, len(ch.recent)-recentKept)
	}
}

// Failed records a failure of the channel: a message the broker did not
// acknowledge.
func (c *Channels) Failed(kind ingest.Channel, name, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := c.get(kind, name)
	ch.health.Errors++
	ch.health.LastError = reason
}

// Refused records what the channel refused, counted by class, and detail,
// which says what happened for operators (no customer data), as its
// latest failure.
func (c *Channels) Refused(kind ingest.Channel, name string, byClass map[string]int, detail string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := c.get(kind, name)
	for class, n := range byClass {
		if ch.health.Refused == nil {
			ch.health.Refused = map[string]int{}
		}
		ch.health.Refused[class] += n
		ch.health.Errors += n
	}
	ch.health.LastError = detail
}

// Quarantined records a message of the channel set aside to the dead
// letters.
func (c *Channels) Quarantined(kind ingest.Channel, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.get(kind, name).health.Quarantined++
}

// Polled records how a polled source (a mailbox) last went: when its last
// poll completed, its failed polls since, and the latest failure's text.
func (c *Channels) Polled(kind ingest.Channel, name string, success time.Time, failures int, lastError string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := c.get(kind, name)
	if success.After(ch.health.LastSuccess) {
		ch.health.LastSuccess = success
	}
	ch.pollErrors = failures
	if lastError != "" {
		ch.health.LastError = lastError
	}
}

// Health returns every channel's health at now, sorted by key.
func (c *Channels) Health(now time.Time) []ChannelHealth {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]ChannelHealth, 0, len(c.by))
	nowMin := now.Unix() / 60
	for _, ch := range c.by {
		h := ch.health
		h.Refused = maps.Clone(h.Refused)
		for i, m := range ch.minute {
			if age := nowMin - m; age >= 0 && age < minutesPerDay && ch.counts[i] > 0 {
				h.Day += int(ch.counts[i])
				if age < 60 {
					h.Hour += int(ch.counts[i])
				}
			}
		}
		h.Errors += ch.pollErrors
		h.Silent = Silent(ch.recent, now)
		out = append(out, h)
	}
	slices.SortFunc(out, func(a, b ChannelHealth) int { return cmp.Compare(a.Key(), b.Key()) })
	return out
}
