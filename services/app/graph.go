package app

// This file is the module graph: every part of a process in one table,
// with what it needs, in the spirit of Grafana Loki's pkg/loki/modules.go.

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/tousu/tousu/services/stages/alerts"
	"github.com/tousu/tousu/services/stages/batcher"
	"github.com/tousu/tousu/services/stages/escalator"
	"github.com/tousu/tousu/services/stages/indexer"
	"github.com/tousu/tousu/services/stages/normalizer"
	"github.com/tousu/tousu/services/stages/routing"
	"github.com/tousu/tousu/services/stages/sender"
)

// Target names a module a process can run: one a user names with -target,
// or an internal one the targets need (the HTTP server, the producer).
type Target string

// The targets of tousu: the modules a user names with -target.
const (
	TargetAll        Target = "all"
	TargetBroker     Target = "broker"
	TargetGateway    Target = "gateway"
	TargetPoller     Target = "poller"
	TargetNormalizer Target = "normalizer"
	TargetRouter     Target = "router"
	TargetIndexer    Target = "indexer"
	TargetEscalator  Target = "escalator"
	TargetBatcher    Target = "batcher"
	TargetAlerts     Target = "alerts"
	TargetSender     Target = "sender"
	TargetConsole    Target = "console"
)

// The internal modules: started when a target needs them, never named.
const (
	moduleSecrets Target = "secrets"
	moduleServer  Target = "server"
	moduleBus     Target = "bus"
	moduleIndex   Target = "index"
	// moduleAccounts follows the console's accounts (services/accounts).
	moduleAccounts Target = "accounts"
)

// module is one part of a process. Start brings it up and registers what
// stops it (closers, run in reverse start order) and what it runs
// (runners); a module that has something to be ready for adds a check to
// /readyz. A module starts after everything it needs, and after what it
// uses when that runs in the same process.
type module struct {
	name Target
	// about says what a target does, for the -target help and the README;
	// empty for internal modules.
	about string
	// keeps names the state a target keeps in its data directory, which
	// makes a deployment run one instance of it; empty for targets that
	// scale.
	keeps string
	// needs are started first, and brought into the process.
	needs []Target
	// uses are started first when they run in this process; a used module
	// with shared(cfg) true is brought in too, since any process can reach
	// it (Elasticsearch, unlike the embedded Bleve index).
	uses []Target
	// shared reports whether any process can open this module (nil: no).
	shared func(cfg *Config) bool
	// consumes lists the consumer groups the module runs, with their
	// topics, for the lag view.
	consumes []consumption
	start    func(p *Process, ctx context.Context) error
}

// consumption is a consumer group and the topics it reads.
type consumption struct {
	group  string
	topics []string
}

// graph lists every module. Its order is the start order among modules
// that do not depend on one another, and the order of the help text, the
// README's table of targets and the lag view.
var graph = []module{
	{name: TargetBroker, about: "the embedded Kafka-protocol broker alone, for development and tests", keeps: "the topics",
		start: (*Process).startBroker},
	{name: moduleSecrets, uses: []Target{TargetBroker}, start: (*Process).startSecrets},
	{name: moduleServer, needs: []Target{moduleSecrets}, start: (*Process).startServer},
	{name: moduleBus, needs: []Target{moduleServer}, uses: []Target{TargetBroker}, start: (*Process).startBus},
	{name: moduleIndex, needs: []Target{moduleServer}, shared: func(cfg *Config) bool { return cfg.Index.Backend == "elasticsearch" },
		start: (*Process).openIndex},
	{name: moduleAccounts, needs: []Target{moduleBus, moduleServer}, start: (*Process).startAccounts},
	{name: TargetGateway, about: "the web form, the JSON API and the webhooks, behind a load balancer",
		needs: []Target{moduleBus, moduleServer, moduleSecrets}, start: (*Process).startGateway},
	{name: TargetPoller, about: "reads the IMAP mailboxes and the hotline CSV folders", keeps: "how far it read them",
		needs: []Target{moduleBus, moduleSecrets}, start: (*Process).startPoller},
	{name: TargetNormalizer, about: "cleans raw complaints, drops exact duplicates and finds the case an e-mail reply answers (in the index when it can reach it)",
		needs: []Target{moduleBus}, uses: []Target{moduleIndex},
		consumes: []consumption{{normalizer.Group, normalizer.Topics}}, start: (*Process).startNormalizer},
	{name: TargetRouter, about: "decides cases by the policy packs, joins duplicates, repeats and replies to their cases, applies case actions",
		needs: []Target{moduleBus}, consumes: []consumption{{routing.Group, routing.Topics}}, start: (*Process).startRouter},
	{name: TargetIndexer, about: "writes cases to the search index",
		needs: []Target{moduleBus, moduleIndex}, consumes: []consumption{{indexer.Group, indexer.Topics}}, start: (*Process).startIndexer},
	{name: TargetEscalator, about: "the escalation clock: asks the router to raise each case's next alert when it falls due", keeps: "the schedule of every case's next alert",
		needs: []Target{moduleBus}, consumes: []consumption{{escalator.Group, escalator.Topics}}, start: (*Process).startEscalator},
	{name: TargetBatcher, about: "batch detection (批量投诉) over every router's new cases", keeps: "the batch window",
		needs: []Target{moduleBus}, consumes: []consumption{{batcher.Group, batcher.Topics}}, start: (*Process).startBatcher},
	{name: TargetAlerts, about: "delivers the alerts topic (escalations, urges, batch incidents) to the alert sinks",
		needs: []Target{moduleBus}, consumes: []consumption{{alerts.Group, alerts.Topics}}, start: (*Process).startAlerts},
	{name: TargetSender, about: "delivers the outbox (acknowledgements, agents' replies, result notices, surveys) to customers by e-mail and SMS", keeps: "the ids of the messages it delivered",
		needs: []Target{moduleBus, moduleSecrets}, consumes: []consumption{{sender.Group, sender.Topics}}, start: (*Process).startSender},
	{name: TargetConsole, about: "the search and case-action API and the customer status page",
		needs: []Target{moduleBus, moduleIndex, moduleServer, moduleSecrets, moduleAccounts}, uses: []Target{TargetGateway}, start: (*Process).startConsole},
}

// moduleNamed returns the module of the graph called name.
func moduleNamed(name Target) (module, bool) {
	i := slices.IndexFunc(graph, func(m module) bool { return m.name == name })
	if i < 0 {
		return module{}, false
	}
	return graph[i], true
}

// Targets lists every target a user can name, in the graph's order.
var Targets = targets()

func targets() []Target {
	var out []Target
	for _, m := range graph {
		if m.about != "" {
			out = append(out, m.name)
		}
	}
	return out
}

// ParseTargets reads a comma-separated target list. "all" means every
// target; it includes the embedded broker only when embedded (no Kafka
// brokers configured).
func ParseTargets(list string, embedded bool) ([]Target, error) {
	var out []Target
	for _, name := range strings.Split(list, ",") {
		t := Target(strings.TrimSpace(name))
		switch {
		case t == TargetAll:
			for _, all := range Targets {
				if all != TargetBroker || embedded {
					out = append(out, all)
				}
			}
		case slices.Contains(Targets, t):
			out = append(out, t)
		default:
			return nil, fmt.Errorf("unknown target %q (known: all, %s)", t, joinTargets(Targets))
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

func joinTargets(ts []Target) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

// plan returns the modules a process running targets starts, in start
// order: the targets, what they need, and what they use where it can run;
// each after the modules it needs or uses.
func plan(cfg *Config, targets []Target) []module {
	in := map[Target]bool{}
	var add func(name Target)
	add = func(name Target) {
		if in[name] {
			return
		}
		in[name] = true
		m, _ := moduleNamed(name)
		for _, n := range m.needs {
			add(n)
		}
	}
	for _, t := range targets {
		add(t)
	}
	for _, m := range graph {
		if !in[m.name] {
			continue
		}
		for _, u := range m.uses {
			if um, _ := moduleNamed(u); um.shared != nil && um.shared(cfg) {
				add(u)
			}
		}
	}
	var order []module
	started := map[Target]bool{}
	for len(order) < len(in) {
		next := slices.IndexFunc(graph, func(m module) bool { return in[m.name] && !started[m.name] && ready(m, in, started) })
		if next < 0 {
			panic("app: the module graph has a cycle") // TestGraph keeps it from happening
		}
		order = append(order, graph[next])
		started[graph[next].name] = true
	}
	return order
}

// ready reports whether everything m needs or uses in this process has
// started.
func ready(m module, in, started map[Target]bool) bool {
	for _, d := range slices.Concat(m.needs, m.uses) {
		if in[d] && !started[d] {
			return false
		}
	}
	return true
}

// TargetsTable is the markdown table of the targets, generated from the
// graph; the README carries it and a test checks that it is current.
func TargetsTable() string {
	var b strings.Builder
	b.WriteString("| target | runs | instances |\n| --- | --- | --- |\n")
	for _, m := range graph {
		if m.about != "" {
			fmt.Fprintf(&b, "| `%s` | %s | %s |\n", m.name, m.about, m.instances())
		}
	}
	return b.String()
}

// TargetHelp describes every target in lines for the -target help.
func TargetHelp() string {
	var b strings.Builder
	fmt.Fprintf(&b, "  %-11s every target; the broker only when no Kafka brokers are configured\n", TargetAll)
	for _, m := range graph {
		if m.about != "" {
			fmt.Fprintf(&b, "  %-11s %s; %s\n", m.name, m.about, m.instances())
		}
	}
	return b.String()
}

// instances says how many instances of a target a deployment runs.
func (m module) instances() string {
	if m.keeps != "" {
		return "run one: it keeps " + m.keeps + " in its data directory"
	}
	return "run as many as you like"
}

// consumers lists every consumer group of the graph with its topics, in
// the graph's order: the lag view's groups, whichever process runs them.
func consumers() []consumption {
	var out []consumption
	for _, m := range graph {
		out = append(out, m.consumes...)
	}
	return out
}

// TargetInfo is what a deployment needs to know of a target: whether it
// keeps state in its data directory, so that it runs as one instance,
// and the consumer groups it runs with the topics they read. The
// Kubernetes manifests test (deploy/kubernetes) checks the manifests
// against it.
type TargetInfo struct {
	Name Target
	// Single reports that the target runs as one instance.
	Single bool
	// Groups maps each consumer group the target runs to its topics.
	Groups map[string][]string
}

// TargetInfos describes every target a user can name, in the graph's
// order.
func TargetInfos() []TargetInfo {
	var out []TargetInfo
	for _, m := range graph {
		if m.about == "" {
			continue
		}
		info := TargetInfo{Name: m.name, Single: m.keeps != "", Groups: map[string][]string{}}
		for _, c := range m.consumes {
			info.Groups[c.group] = slices.Clone(c.topics)
		}
		out = append(out, info)
	}
	return out
}
