package ops

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/services/bus"
)

// BeatVersion is the schema version of a Beat.
const BeatVersion = 1

// LostBeats is how many beats a process may miss before the page shows it
// as lost (失联).
const LostBeats = 3

// Beat is what a process announces about itself on bus.TopicHeartbeat,
// keyed by its Process id, every Config.Every.
type Beat struct {
	V int `json:"v"`
	// Process identifies the process: host, process id and start time,
	// so a restarted process is a new one.
	Process string `json:"process"`
	Host    string `json:"host"`
	PID     int    `json:"pid"`
	// Targets are the targets the process runs.
	Targets []string `json:"targets"`
	// Version is the build's version or commit (see BuildVersion).
	Version string    `json:"version"`
	Started time.Time `json:"started"`
	// At is when the beat was sent; Every how often the process beats.
	At    time.Time     `json:"at"`
	Every time.Duration `json:"every"`
	// Channels are the intake channels the process runs (gateway, poller).
	Channels []ChannelHealth `json:"channels,omitempty"`
	// Stopped marks the last beat of a process that stopped on purpose
	// (it was told to: a deployment, a restart), sent as it stopped.
	Stopped bool `json:"stopped,omitempty"`
}

// Lost reports whether a process whose last beat is last has missed
// LostBeats beats at now without saying it stopped: it crashed, hangs or
// cannot reach the broker.
func Lost(last Beat, now time.Time) bool {
	return !last.Stopped && now.Sub(last.At) > LostBeats*last.Every
}

// ProcessID names a process by host, process id and start time (to the
// nanosecond: tests run several in one operating-system process).
func ProcessID(host string, pid int, started time.Time) string {
	return host + "/" + strconv.Itoa(pid) + "/" + strconv.FormatInt(started.UnixNano(), 36)
}

// BuildVersion is the version the build carries: the module's version,
// else the first 12 digits of the commit (with "+" when the tree had
// changes), else "开发版本".
func BuildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "开发版本"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "+"
			}
		}
	}
	if rev == "" {
		return "开发版本"
	}
	return rev[:min(12, len(rev))] + modified
}

// Config is the heartbeat's configuration (the section "heartbeat").
type Config struct {
	// Every is how often a process announces itself. Default 10s; a
	// process missing for three beats is shown as lost.
	Every time.Duration `yaml:"every"`
}

// Provision sets the defaults.
func (c *Config) Provision() {
	if c.Every == 0 {
		c.Every = 10 * time.Second
	}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.Every < time.Second || c.Every > 5*time.Minute {
		return fmt.Errorf("every: %s is not between 1s and 5m", c.Every)
	}
	return nil
}

// Announcer sends a process's beat every Config.Every.
type Announcer struct {
	cfg    Config
	beat   func(now time.Time) Beat
	write  func(ctx context.Context, m ...bus.Message) error
	logger *zap.Logger
}

// NewAnnouncer returns an Announcer of the beats beat makes, written with
// write (a bus.Producer's Write: it blocks until the broker acknowledged).
func NewAnnouncer(cfg Config, beat func(now time.Time) Beat, write func(context.Context, ...bus.Message) error, logger *zap.Logger) *Announcer {
	return &Announcer{cfg: cfg, beat: beat, write: write, logger: logger}
}

// Announce sends one beat made at now; with stopped, the process's last
// (Beat.Stopped).
func (a *Announcer) Announce(ctx context.Context, now time.Time, stopped bool) error {
	b := a.beat(now)
	b.Stopped = stopped
	value, err := ingest.EncodeJSON(b)
	if err != nil {
		return err
	}
	if err := a.write(ctx, bus.Message{Topic: bus.TopicHeartbeat, Key: []byte(b.Process), Value: value}); err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	return nil
}

// Run announces at once and then every Config.Every until ctx ends; then
// it sends the process's last beat (Beat.Stopped), waiting at most
// Config.Every for it, and returns nil. Call it before the producer
// write uses is closed. A beat that fails is logged and the next one
// tried.
func (a *Announcer) Run(ctx context.Context) error {
	t := time.NewTicker(a.cfg.Every)
	defer t.Stop()
	for {
		bctx, cancel := context.WithTimeout(ctx, a.cfg.Every)
		if err := a.Announce(bctx, time.Now(), false); err != nil && ctx.Err() == nil {
			a.logger.Warn("heartbeat not sent", zap.Error(err))
		}
		cancel()
		select {
		case <-ctx.Done():
			last, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.Every)
			defer cancel()
			if err := a.Announce(last, time.Now(), true); err != nil {
				a.logger.Warn("last heartbeat not sent: the process will be shown lost", zap.Error(err))
			}
			return nil
		case <-t.C:
		}
	}
}

// Deployment is the deployment as a console replica learns it from the
// beats: the latest beat of every process. Follow is the handler of a
// bus.Follower of bus.TopicHeartbeat; all methods are safe for concurrent
// use.
type Deployment struct {
	mu    sync.Mutex
	beats map[string]Beat
}

// NewDeployment returns an empty Deployment.
func NewDeployment() *Deployment { return &Deployment{beats: map[string]Beat{}} }

// Follow takes one record of the heartbeat topic. A record that is no
// beat is rejected (the follower logs and skips it); a tombstone forgets
// its process.
func (d *Deployment) Follow(_ context.Context, m bus.Message) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if m.Value == nil {
		delete(d.beats, string(m.Key))
		return nil
	}
	var b Beat
	if err := json.Unmarshal(m.Value, &b); err != nil || b.V != BeatVersion || b.Process == "" {
		return bus.Reject(errors.Join(errors.New("heartbeat: not a beat"), err))
	}
	if old, ok := d.beats[b.Process]; !ok || !b.At.Before(old.At) {
		d.beats[b.Process] = b
	}
	return nil
}

// forgetAfter is how long a process that stopped beating stays shown.
const forgetAfter = 24 * time.Hour

// Prune forgets processes silent for a day and returns how many.
func (d *Deployment) Prune(now time.Time) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for id, b := range d.beats {
		if now.Sub(b.At) > forgetAfter {
			delete(d.beats, id)
			n++
		}
	}
	return n
}

// ProcessView is a process as the page shows it.
type ProcessView struct {
	Beat
	// Lost tells that the process missed LostBeats beats (失联) without
	// saying it stopped (Beat.Stopped, 已停止).
	Lost bool `json:"lost"`
}

// Gone reports whether the process runs no more: stopped or lost.
func (p ProcessView) Gone() bool { return p.Lost || p.Stopped }

// Processes returns the processes at now: the running ones first, each
// group by host and start time.
func (d *Deployment) Processes(now time.Time) []ProcessView {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]ProcessView, 0, len(d.beats))
	for _, b := range d.beats {
		out = append(out, ProcessView{Beat: b, Lost: Lost(b, now)})
	}
	slices.SortFunc(out, func(a, b ProcessView) int {
		if a.Gone() != b.Gone() {
			if a.Gone() {
				return 1
			}
			return -1
		}
		return cmp.Or(cmp.Compare(a.Host, b.Host), a.Started.Compare(b.Started), cmp.Compare(a.Process, b.Process))
	})
	return out
}

// ChannelView is a channel as the page shows it: its health as the
// process running it last announced, and which process that is.
type ChannelView struct {
	ChannelHealth
	Process string `json:"process"`
	// Lost and Stopped tell that the process running the channel is lost
	// or stopped: its figures are as of its last beat.
	Lost    bool `json:"lost"`
	Stopped bool `json:"stopped,omitempty"`
}

// Channels returns every channel of the deployment at now, sorted by key
// and process; a channel several gateways run (the web form) is listed
// once per gateway. A stopped or lost process's channel that a running
// process runs now (the poller restarted) is left out; one nobody runs
// any more is shown as stopped or lost.
func (d *Deployment) Channels(now time.Time) []ChannelView {
	var out []ChannelView
	live := map[string]bool{}
	// Processes lists the running processes first.
	for _, p := range d.Processes(now) {
		for _, ch := range p.Channels {
			if p.Gone() && live[ch.Key()] {
				continue
			}
			live[ch.Key()] = live[ch.Key()] || !p.Gone()
			out = append(out, ChannelView{ChannelHealth: ch, Process: p.Process, Lost: p.Lost, Stopped: p.Stopped})
		}
	}
	slices.SortFunc(out, func(a, b ChannelView) int {
		return cmp.Or(cmp.Compare(a.Key(), b.Key()), cmp.Compare(a.Process, b.Process))
	})
	return out
}

// Self is what a process knows of itself for its beats.
type Self struct {
	Host    string
	PID     int
	Started time.Time
	Targets []string
	Version string
	Every   time.Duration
	// Channels are the process's intake channels; nil when it runs none.
	Channels *Channels
}

// NewSelf describes this process, started now, running targets.
func NewSelf(targets []string, every time.Duration, channels *Channels) Self {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	return Self{Host: host, PID: os.Getpid(), Started: time.Now().UTC(), Targets: targets, Version: BuildVersion(),
		Every: every, Channels: channels}
}

// Beat is the process's beat at now.
func (s Self) Beat(now time.Time) Beat {
	b := Beat{V: BeatVersion, Process: ProcessID(s.Host, s.PID, s.Started), Host: s.Host, PID: s.PID, Targets: s.Targets,
		Version: s.Version, Started: s.Started, At: now.UTC(), Every: s.Every}
	if s.Channels != nil {
		b.Channels = s.Channels.Health(now)
	}
	return b
}
