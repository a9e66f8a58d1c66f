package app

// This file wires the operations view: the heartbeat every process sends,
// the intake channels' health the gateway and the poller report in it, the
// deployment and the lag history every console keeps, and the ops API.

import (
	"context"
	"maps"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/ingest/csvdrop"
	"github.com/tousu/tousu/ingest/imap"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/console"
	"github.com/tousu/tousu/services/httpapi"
	"github.com/tousu/tousu/services/ops"
)

// intakeChannels returns the process's record of its intake channels,
// made on first use with every channel the configuration names for the
// targets of the process, so a channel that never received a message is
// shown too.
func (p *Process) intakeChannels() *ops.Channels {
	if p.channels != nil {
		return p.channels
	}
	var declared []ops.ChannelHealth
	if p.has(TargetGateway) {
		declared = append(declared, ops.ChannelHealth{Kind: ingest.ChannelWebForm}, ops.ChannelHealth{Kind: ingest.ChannelAPI})
		for _, name := range slices.Sorted(maps.Keys(p.cfg.Webhook.Sources)) {
			declared = append(declared, ops.ChannelHealth{Kind: ingest.ChannelWebhook, Name: name})
		}
	}
	if p.has(TargetPoller) {
		for _, m := range p.cfg.IMAP.Mailboxes {
			declared = append(declared, ops.ChannelHealth{Kind: ingest.ChannelEmail, Name: m.Name})
		}
		for _, f := range p.cfg.CSVDrop.Folders {
			declared = append(declared, ops.ChannelHealth{Kind: ingest.ChannelHotline, Name: f.Name})
		}
	}
	p.channels = ops.NewChannels(declared...)
	return p.channels
}

// publishIntake is publishEnvelope counted in the channels' health: each
// envelope the broker acknowledged, or the failure, under its channel and
// source.
func (p *Process) publishIntake() ingest.Publish {
	return p.countedIntake(publishEnvelope(p.producer, &p.intake))
}

// countedIntake is publish counted in the health of the channels.
func (p *Process) countedIntake(publish ingest.Publish) ingest.Publish {
	channels := p.intakeChannels()
	return func(ctx context.Context, env ingest.Envelope) error {
		if err := publish(ctx, env); err != nil {
			channels.Failed(env.Channel, env.Source, err.Error())
			return err
		}
		channels.Accepted(env.Channel, env.Source, time.Now())
		return nil
	}
}

// quarantineCounted is a mailbox's quarantine counted in its health.
func (p *Process) quarantineCounted(q imap.Quarantine) imap.Quarantine {
	channels := p.intakeChannels()
	return func(ctx context.Context, m imap.Quarantined) error {
		if err := q(ctx, m); err != nil {
			return err
		}
		channels.Quarantined(ingest.ChannelEmail, m.Mailbox)
		return nil
	}
}

// hotlineRejections returns what counts the rows and files a hotline
// folder refused in its health (csvdrop.Watcher.OnRejected).
func (p *Process) hotlineRejections() func(csvdrop.Rejected) {
	channels := p.intakeChannels()
	return func(r csvdrop.Rejected) { channels.Refused(ingest.ChannelHotline, r.Folder, r.ByClass, r.Detail) }
}

// webhookRefusals returns what counts a webhook source's refused
// requests in its health (webhook.Handler.OnRefused).
func (p *Process) webhookRefusals() func(source, class string) {
	channels := p.intakeChannels()
	return func(source, class string) {
		channels.Refused(ingest.ChannelWebhook, source, map[string]int{class: 1}, "请求被拒："+class)
	}
}

// announce makes the process send its heartbeat; a process without the
// bus (the broker alone) sends none.
func (p *Process) announce() {
	if p.producer == nil {
		return
	}
	targets := make([]string, len(p.targets))
	for i, t := range p.targets {
		targets[i] = string(t)
	}
	var channels *ops.Channels
	if p.has(TargetGateway) || p.has(TargetPoller) {
		channels = p.intakeChannels()
	}
	self := ops.NewSelf(targets, p.cfg.Heartbeat.Every, channels)
	beat := func(now time.Time) ops.Beat {
		if p.mail != nil {
			for name, h := range p.mail.Health() {
				channels.Polled(ingest.ChannelEmail, name, h.LastSuccess, h.ConsecutiveErrors, h.LastError)
			}
		}
		return self.Beat(now)
	}
	a := ops.NewAnnouncer(p.cfg.Heartbeat, beat, p.producer.Write, p.component("heartbeat"))
	p.runners = append(p.runners, a.Run)
}

// startOpsPage makes a console follow the heartbeats into memory, sample
// the pipeline's lag every ops.SampleEvery into its own hour of history,
// and serve the operations page.
func (p *Process) startOpsPage(tpl *console.Templates) error {
	d := ops.NewDeployment()
	if err := p.follow("deployment", bus.FollowerConfig{Topic: bus.TopicHeartbeat}, d.Follow, d.Prune); err != nil {
		return err
	}
	sampler := ops.NewSampler(p.pipelineLag, p.component("lag-history"))
	p.runners = append(p.runners, sampler.Run)
	p.deployment, p.lagHistory = d, sampler.History
	reach := map[string]httpapi.Check{"消息队列": func(ctx context.Context) error { return bus.Ping(ctx, p.cfg.Bus) }}
	if p.index != nil {
		reach["搜索索引"] = p.index.Ping
	}
	console.NewOpsPage(console.OpsDeps{Templates: tpl, RequirePage: p.sessions.RequirePage(), CSRFToken: console.CSRFToken,
		Lag: p.pipelineLag, History: sampler.History, Deployment: d, Reach: reach, Logger: p.component("ops-page")}).Mount(p.server.App())
	return nil
}

// mountOps mounts the ops API on every process.
func (p *Process) mountOps() {
	httpapi.MountOps(p.server.App(), p.auth, httpapi.OpsDeps{Lag: p.pipelineLag, History: p.lagHistory, Deployment: p.deployment},
		p.component("ops"))
}

// pipelineLag asks the broker for every consumer group of the graph,
// whichever process runs it: the consumers attached, the lag on each
// topic it reads and when its oldest unprocessed record was written, in
// the graph's order.
func (p *Process) pipelineLag(ctx context.Context) []ops.GroupLag {
	var groups []bus.GroupTopics
	for _, c := range p.pipeline {
		groups = append(groups, bus.GroupTopics{Group: c.group, Topics: c.topics})
	}
	states, err := bus.GroupStates(ctx, p.cfg.Bus, groups)
	byGroup := map[string]bus.GroupState{}
	for _, gs := range states {
		byGroup[gs.Group] = gs
	}
	var out []ops.GroupLag
	for _, c := range p.pipeline {
		gs := byGroup[c.group]
		for i, topic := range c.topics {
			gl := ops.GroupLag{Group: c.group, Topic: topic, Members: len(gs.Members)}
			switch {
			case err != nil:
				gl.Error = err.Error()
			case gs.Err != nil:
				gl.Error = gs.Err.Error()
			case i < len(gs.Topics) && gs.Topics[i].Err != nil:
				gl.Error = gs.Topics[i].Err.Error()
			}
			if i < len(gs.Topics) {
				p.fillPartitions(ctx, &gl, gs.Topics[i])
			}
			out = append(out, gl)
		}
	}
	return out
}

// fillPartitions sets the partitions of gl from tl, with the time of the
// oldest record not yet processed of each partition that lags.
func (p *Process) fillPartitions(ctx context.Context, gl *ops.GroupLag, tl bus.TopicLag) {
	gl.Partitions = map[int]int64{}
	unread := map[int]int64{}
	for _, pl := range tl.Partitions {
		gl.Partitions[pl.Partition] = pl.Lag
		gl.Details = append(gl.Details, ops.PartitionLag{Partition: pl.Partition, Lag: pl.Lag, End: pl.End})
		if pl.Lag > 0 {
			unread[pl.Partition] = pl.End - pl.Lag
		}
	}
	gl.Total = tl.Total
	if len(unread) == 0 {
		return
	}
	times, err := bus.RecordTimes(ctx, p.cfg.Bus, tl.Topic, unread)
	if err != nil {
		p.component("ops").Warn("oldest unprocessed records", zap.Error(err))
	}
	for i, d := range gl.Details {
		if t, ok := times[d.Partition]; ok {
			gl.Details[i].Oldest = t
			if gl.Oldest.IsZero() || t.Before(gl.Oldest) {
				gl.Oldest = t
			}
		}
	}
}
