package app

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestGraph checks the module table: every module it names exists, every
// module can start, and every target brings in what it needs.
func TestGraph(t *testing.T) {
	names := map[Target]bool{}
	for _, m := range graph {
		if names[m.name] {
			t.Errorf("module %s listed twice", m.name)
		}
		names[m.name] = true
		if m.start == nil {
			t.Errorf("module %s has no start", m.name)
		}
	}
	for _, m := range graph {
		for _, d := range slices.Concat(m.needs, m.uses) {
			if !names[d] {
				t.Errorf("module %s depends on unknown module %s", m.name, d)
			}
		}
	}
	groups := map[string]Target{}
	for _, m := range graph {
		for _, c := range m.consumes {
			if other, ok := groups[c.group]; ok {
				t.Errorf("consumer group %s run by %s and %s", c.group, other, m.name)
			}
			groups[c.group] = m.name
		}
	}
	for _, backend := range []string{"bleve", "elasticsearch"} {
		cfg := Defaults()
		cfg.Index.Backend = backend
		for _, tg := range Targets {
			checkPlan(t, &cfg, []Target{tg, moduleServer})
		}
		all, _ := ParseTargets("all", true)
		checkPlan(t, &cfg, append(all, moduleServer))
	}
}

// checkPlan checks that the plan holds the targets and all they need, each
// module once and after the modules it needs or uses.
func checkPlan(tb testing.TB, cfg *Config, targets []Target) {
	tb.Helper()
	order := plan(cfg, targets)
	pos := map[Target]int{}
	for i, m := range order {
		if _, twice := pos[m.name]; twice {
			tb.Errorf("plan %v starts %s twice", targets, m.name)
		}
		pos[m.name] = i
	}
	for _, tg := range targets {
		if _, ok := pos[tg]; !ok {
			tb.Errorf("plan %v does not start %s", targets, tg)
		}
	}
	for i, m := range order {
		for _, n := range m.needs {
			if j, ok := pos[n]; !ok || j > i {
				tb.Errorf("plan %v: %s starts before %s, which it needs", targets, m.name, n)
			}
		}
		for _, u := range m.uses {
			if j, ok := pos[u]; ok && j > i {
				tb.Errorf("plan %v: %s starts before %s, which it uses", targets, m.name, u)
			}
		}
	}
}

// TestPlan checks the dependencies that used to hide in the order of
// start's if-blocks.
func TestPlan(t *testing.T) {
	names := func(ms []module) []Target {
		var out []Target
		for _, m := range ms {
			out = append(out, m.name)
		}
		return out
	}
	bleve, es := Defaults(), Defaults()
	es.Index.Backend = "elasticsearch"
	tests := []struct {
		name    string
		cfg     *Config
		targets []Target
		want    []Target
	}{
		{"a normalizer without the embedded index", &bleve, []Target{TargetNormalizer},
			[]Target{moduleSecrets, moduleServer, moduleBus, TargetNormalizer}},
		{"a normalizer reaches Elasticsearch from anywhere", &es, []Target{TargetNormalizer},
			[]Target{moduleSecrets, moduleServer, moduleBus, moduleIndex, TargetNormalizer}},
		{"the normalizer uses the embedded index where the indexer runs", &bleve, []Target{TargetIndexer, TargetNormalizer},
			[]Target{moduleSecrets, moduleServer, moduleBus, moduleIndex, TargetNormalizer, TargetIndexer}},
		{"the console mounts the status page on the gateway's form", &bleve, []Target{TargetConsole, TargetGateway, TargetBroker},
			[]Target{TargetBroker, moduleSecrets, moduleServer, moduleBus, moduleIndex, moduleAccounts, TargetGateway, TargetConsole}},
		{"the broker alone", &bleve, []Target{TargetBroker, moduleServer},
			[]Target{TargetBroker, moduleSecrets, moduleServer}},
	}
	for _, tt := range tests {
		if got := names(plan(tt.cfg, tt.targets)); !slices.Equal(got, tt.want) {
			t.Errorf("%s: plan(%v) = %v, want %v", tt.name, tt.targets, got, tt.want)
		}
	}
}

// TestReadmeTargets: the README's table of targets is the one the graph
// generates.
func TestReadmeTargets(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	const begin, end = "<!-- targets:begin", "<!-- targets:end -->"
	s := string(b)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("README.md has no %q … %q section", begin, end)
	}
	got := s[i:j]
	got = got[strings.Index(got, "\n")+1:]
	if want := TargetsTable(); got != want {
		t.Errorf("README.md's table of targets is out of date; replace it with:\n%s", want)
	}
}
