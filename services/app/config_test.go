package app

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/bus"
)

// repoRoot is the module root, two levels above this package.
func repoRoot(tb testing.TB) string {
	tb.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		tb.Fatal(err)
	}
	return root
}

// exampleEnv is what an operator sets beside the example configurations.
var exampleEnv = []string{"TOUSU_WEBHOOK_SECRET_PARTNER=partner-secret-0123456789", "TOUSU_BOOTSTRAP_TOKEN=admin-token-0123456789"}

func TestExampleConfigsLoad(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "configs", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no configs: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg, err := Load(f, exampleEnv)
			if err != nil {
				t.Fatal(err)
			}
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func writeConfig(tb testing.TB, text string) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "tousu.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

func TestLoadRejectsUnknownKeysWithPath(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{"datadir: x\n", `unknown key "datadir"`},
		{"http:\n  listn: 1.2.3.4:5\n", `unknown key "http.listn"`},
		{"webhook:\n  sources:\n    acme:\n      secrt: x\n", `unknown key "webhook.sources.acme.secrt"`},
		{"policies:\n  packs:\n    - path: builtin:telecom\n      channel: [email]\n", `unknown key "policies.packs[0].channel"`},
		{"auth:\n  tokens:\n    - name: a\n      rol: admin\n", `unknown key "auth.tokens[0].rol"`},
		{"intake:\n  default_areacode: \"010\"\n", `unknown key "intake.default_areacode"`},
	}
	for _, tt := range tests {
		_, err := Load(writeConfig(t, tt.yaml), nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Load(%q) = %v, want %s", tt.yaml, err, tt.want)
		}
	}
}

func TestLoadReportsInvalidValues(t *testing.T) {
	cfg, err := Load(writeConfig(t, "log:\n  level: loud\npolicies:\n  packs: []\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	err = cfg.Validate()
	for _, want := range []string{"log.level", "policies: "} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to mention %q", err, want)
		}
	}
}

func TestIntakeReachesTheAdapters(t *testing.T) {
	cfg, err := Load(writeConfig(t, "intake:\n  default_area_code: \"0755\"\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	want := ingest.Config{DefaultAreaCode: "0755"}
	if cfg.Webform.Intake != want || cfg.Webhook.Intake != want || cfg.CSVDrop.Intake != want {
		t.Errorf("intake of webform %+v, webhook %+v, csvdrop %+v; want %+v", cfg.Webform.Intake, cfg.Webhook.Intake, cfg.CSVDrop.Intake, want)
	}
	cfg, err = Load(writeConfig(t, "intake:\n  default_area_code: 755\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "intake: default_area_code: ") {
		t.Errorf("Validate() = %v, want an error naming intake.default_area_code", err)
	}
}

func TestEnvironmentOverrides(t *testing.T) {
	cfg, err := Load("", []string{
		"TOUSU_BOOTSTRAP_TOKEN=admin-token-0123456789",
		"TOUSU_WEBHOOK_SECRET_ACME=acme-secret-0123456789",
		"TOUSU_KAFKA_BROKERS=k1:9092,k2:9092",
		"TOUSU_WEBFORM_CSRF_SECRET=shared-by-every-gateway-0123456789abcdef",
		"UNRELATED=1",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Auth.Tokens) != 1 || cfg.Auth.Tokens[0].Token != "admin-token-0123456789" || cfg.Auth.Tokens[0].Role != "admin" {
		t.Errorf("tokens = %+v", cfg.Auth.Tokens)
	}
	if cfg.Webhook.Sources["acme"].Secret != "acme-secret-0123456789" {
		t.Errorf("sources = %+v", cfg.Webhook.Sources)
	}
	if !slices.Equal(cfg.Bus.Brokers, []string{"k1:9092", "k2:9092"}) || cfg.Embedded() {
		t.Errorf("brokers = %v", cfg.Bus.Brokers)
	}
	if cfg.Webform.CSRFSecret != "shared-by-every-gateway-0123456789abcdef" {
		t.Errorf("csrf secret not taken from the environment")
	}
	if err := cfg.Validate(); err != nil {
		t.Error(err)
	}
	short, err := Load("", []string{"TOUSU_WEBFORM_CSRF_SECRET=short"})
	if err == nil {
		err = short.Validate()
	}
	if err == nil || !strings.Contains(err.Error(), "csrf_secret") {
		t.Errorf("a short CSRF secret: %v", err)
	}
}

func TestParseTargets(t *testing.T) {
	tests := []struct {
		list     string
		embedded bool
		want     []Target
	}{
		{"all", true, []Target{"alerts", "batcher", "broker", "console", "escalator", "gateway", "indexer", "normalizer", "poller", "router"}},
		{"all", false, []Target{"alerts", "batcher", "console", "escalator", "gateway", "indexer", "normalizer", "poller", "router"}},
		{"gateway, router,gateway", false, []Target{"gateway", "router"}},
		{"broker", true, []Target{"broker"}},
	}
	for _, tt := range tests {
		got, err := ParseTargets(tt.list, tt.embedded)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("ParseTargets(%q, %v) = %v, %v; want %v", tt.list, tt.embedded, got, err, tt.want)
		}
	}
	if _, err := ParseTargets("gateway,mailer", false); err == nil || !strings.Contains(err.Error(), `"mailer"`) {
		t.Errorf("unknown target: err = %v", err)
	}
}

func TestCheckTargets(t *testing.T) {
	cfg := Defaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := CheckTargets(&cfg, []Target{TargetIndexer}); err == nil {
		t.Error("indexer without console on bleve: want an error")
	}
	if err := CheckTargets(&cfg, []Target{TargetRouter}); err == nil || !strings.Contains(err.Error(), "no Kafka brokers") {
		t.Errorf("router without brokers: err = %v", err)
	}
	cfg.Bus.Brokers = []string{"127.0.0.1:9092"}
	if err := CheckTargets(&cfg, []Target{TargetIndexer, TargetConsole}); err == nil || !strings.Contains(err.Error(), EnvSecret) {
		t.Errorf("console on Kafka without the server secret: err = %v", err)
	}
	if err := CheckTargets(&cfg, []Target{TargetRouter}); err != nil {
		t.Errorf("router on Kafka needs no server secret: %v", err)
	}
	cfg.Security.Secret = strings.Repeat("s", 32)
	if err := CheckTargets(&cfg, []Target{TargetIndexer, TargetConsole}); err != nil {
		t.Error(err)
	}
}

// TestComposeServicesAreTargets parses docker-compose.yml: every tousu
// service runs targets that exist.
func TestComposeServicesAreTargets(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Image   string   `yaml:"image"`
			Command []string `yaml:"command"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(data, &compose); err != nil {
		t.Fatal(err)
	}
	seen := map[Target]bool{}
	for name, svc := range compose.Services {
		if !strings.HasPrefix(name, "tousu-") {
			continue
		}
		i := slices.Index(svc.Command, "-target")
		if i < 0 || i+1 >= len(svc.Command) {
			t.Errorf("service %s: no -target in %v", name, svc.Command)
			continue
		}
		targets, err := ParseTargets(svc.Command[i+1], false)
		if err != nil {
			t.Errorf("service %s: %v", name, err)
		}
		if !slices.Contains(targets, Target(strings.TrimPrefix(name, "tousu-"))) {
			t.Errorf("service %s does not run target %q", name, strings.TrimPrefix(name, "tousu-"))
		}
		for _, tg := range targets {
			seen[tg] = true
		}
	}
	for _, want := range []string{"kafka", "elasticsearch"} {
		if _, ok := compose.Services[want]; !ok {
			t.Errorf("compose has no %s service", want)
		}
	}
	for _, tg := range Targets {
		if tg != TargetBroker && !seen[tg] {
			t.Errorf("no compose service runs target %q", tg)
		}
	}
}

// TestRouterMaxRecordBytes: the router's record budget defaults to
// router.DefaultMaxRecordBytes and must leave room below the broker's
// limit; an invalid one is reported by its key path.
func TestRouterMaxRecordBytes(t *testing.T) {
	tests := []struct {
		value int
		want  int // 0: invalid
	}{
		{0, router.DefaultMaxRecordBytes},
		{router.MinRecordBytes, router.MinRecordBytes},
		{maxRouterRecordBytes, maxRouterRecordBytes},
		{router.MinRecordBytes - 1, 0},
		{bus.MaxRecordBytes, 0},
		{-1, 0},
	}
	for _, tt := range tests {
		cfg, err := Load(writeConfig(t, fmt.Sprintf("router:\n  max_record_bytes: %d\n", tt.value)), nil)
		if err != nil {
			t.Fatal(err)
		}
		err = cfg.Validate()
		switch {
		case tt.want == 0 && (err == nil || !strings.Contains(err.Error(), "router: max_record_bytes")):
			t.Errorf("max_record_bytes %d: Validate() = %v, want an error naming router: max_record_bytes", tt.value, err)
		case tt.want != 0 && (err != nil || cfg.Router.MaxRecordBytes != tt.want):
			t.Errorf("max_record_bytes %d: Validate() = %v, value %d, want %d", tt.value, err, cfg.Router.MaxRecordBytes, tt.want)
		}
	}
}
