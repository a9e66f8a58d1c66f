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
	"github.com/tousu/tousu/internal/secret"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/stages/routing"
	"github.com/tousu/tousu/sinks/esindex"
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
	_, err := Load(writeConfig(t, "log:\n  level: loud\npolicies:\n  packs: []\n"), nil)
	for _, want := range []string{"log.level: \"loud\"", "policies.packs: "} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to mention %q", err, want)
		}
	}
}

// TestLoadReportsEveryErrorOnce feeds a configuration with errors in many
// sections: Load reports each, prefixed once with its key path.
func TestLoadReportsEveryErrorOnce(t *testing.T) {
	_, err := Load(writeConfig(t, `
http:
  listen: nohost
  body_limit: -1
bus:
  brokers: ["kafka-1", "kafka-2:9092", ":9092"]
  partitions: -1
broker:
  listen: 0.0.0.0:9092
index:
  backend: elasticsearch
  elasticsearch:
    urls: [ftp://es]
    password_file: /no/such/es-password
webform:
  rate_window: 1ms
webhook:
  sources:
    acme: {secret: short}
imap:
  mailboxes:
    - {name: a, host: h, auth: {username: u, password: p}}
    - {name: b, host: h, port: 70000, auth: {username: u, password: p}}
csvdrop:
  folders:
    - {name: x}
normalize:
  dedupe: {batch_similarity: 2, batch_window: -1s}
router:
  retrain_interval: -1s
escalator:
  interval: -1s
alerts:
  webhooks:
    - {name: ok, url: "https://hooks.example.com/a", unsigned: true}
    - {name: Bad Name, url: "ftp://hooks.example.com/b?token=T0KEN", secret_env: UNSET_ALERT_SECRET_7f3a}
log:
  level: loud
security:
  secret: short
`), nil)
	if err == nil {
		t.Fatal("Load accepted the configuration")
	}
	want := []string{
		"http.listen: ",
		"http.body_limit: must not be negative",
		`bus.brokers[0]: "kafka-1" is not host:port`,
		`bus.brokers[2]: ":9092" has no host`,
		"bus.partitions: must be between",
		`broker.listen: "0.0.0.0:9092": the broker advertises`,
		`index.elasticsearch.urls[0]: "ftp://es": scheme must be http or https`,
		"index.elasticsearch.password_file: open /no/such/es-password",
		"index.elasticsearch.username: password given without username",
		"webform.rate_window: 1ms must be from 1s to 1h0m0s",
		"webhook.sources.acme.secret: must be at least 16 bytes",
		"imap.mailboxes[1].port: 70000 is not a TCP port",
		"csvdrop.folders[0].path: required",
		"normalize.dedupe.batch_window: must not be negative",
		"normalize.dedupe.batch_similarity: must be between 0 and 1",
		"router.retrain_interval: must be positive",
		"escalator.interval: must be positive",
		`alerts.webhooks[1].name: "Bad Name"`,
		"alerts.webhooks[1].url: the scheme must be http or https",
		"alerts.webhooks[1].secret_env: the environment variable UNSET_ALERT_SECRET_7f3a is not set",
		`log.level: "loud" is not one of debug, info, warn, error`,
		"security.secret: must have at least 32 bytes",
	}
	lines := strings.Split(err.Error(), "\n")
	for _, w := range want {
		if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, w) }) {
			t.Errorf("no line starts with %q", w)
		}
	}
	for _, l := range lines {
		key, _, _ := strings.Cut(l, ": ")
		section, _, _ := strings.Cut(key, ".")
		if strings.Count(l, section+".") != 1 && strings.Count(l, section+":") != 1 || strings.Contains(l, ": "+section+":") {
			t.Errorf("%q does not name its section exactly once", l)
		}
		if strings.Contains(l, "T0KEN") || strings.Contains(l, "short") {
			t.Errorf("%q shows a secret", l)
		}
	}
	if len(lines) != len(want) {
		t.Errorf("%d errors, want %d:\n%v", len(lines), len(want), err)
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
	_, err = Load(writeConfig(t, "intake:\n  default_area_code: 755\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "intake.default_area_code: ") {
		t.Errorf("Validate() = %v, want an error naming intake.default_area_code", err)
	}
}

// TestOrganisationOfTheForm: the organisation's files are read relative
// to the configuration file, and its errors name their key path.
func TestOrganisationOfTheForm(t *testing.T) {
	path := writeConfig(t, "webform:\n  organisation:\n    name: 某某物业服务有限公司\n    hotline: 0755-8888 6666\n    privacy:\n      version: 2026-12\n      file: privacy.txt\n")
	cfg, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if o := cfg.Webform.Organisation; cfg.Webform.Dir != filepath.Dir(path) || o.Name != "某某物业服务有限公司" || o.Privacy.Version != "2026-12" || o.Privacy.Text != "" {
		t.Errorf("webform dir %q, organisation %+v", cfg.Webform.Dir, o)
	}
	_, err = Load(writeConfig(t, "webform:\n  organisation:\n    hotline: 400-TOUSU\n    privacy:\n      text: 我们保护您的信息。\n      file: privacy.txt\n"), nil)
	for _, want := range []string{"webform.organisation.hotline: ", "webform.organisation.privacy: text and file"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Load() = %v, want an error naming %s", err, want)
		}
	}
}

func TestEnvironmentOverrides(t *testing.T) {
	cfg, err := Load("", []string{
		"TOUSU_BOOTSTRAP_TOKEN=admin-token-0123456789",
		"TOUSU_WEBHOOK_SECRET_ACME=acme-secret-0123456789",
		"TOUSU_KAFKA_BROKERS=k1:9092,k2:9092",
		"TOUSU_KAFKA_REPLICATION=2",
		"TOUSU_KAFKA_MIN_INSYNC_REPLICAS=2",
		"TOUSU_WEBFORM_CSRF_SECRET=shared-by-every-gateway-0123456789abcdef",
		"UNRELATED=1",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Auth.Tokens) != 1 || cfg.Auth.Tokens[0].Token.Reveal() != "admin-token-0123456789" || cfg.Auth.Tokens[0].Role != "admin" {
		t.Errorf("tokens = %+v", cfg.Auth.Tokens)
	}
	if cfg.Webhook.Sources["acme"].Secret.Reveal() != "acme-secret-0123456789" {
		t.Errorf("sources = %+v", cfg.Webhook.Sources)
	}
	if !slices.Equal(cfg.Bus.Brokers, []string{"k1:9092", "k2:9092"}) || cfg.Embedded() || cfg.Bus.Replication != 2 || cfg.Bus.MinInsyncReplicas != 2 {
		t.Errorf("bus = %+v", cfg.Bus)
	}
	if cfg.Webform.CSRFSecret.Reveal() != "shared-by-every-gateway-0123456789abcdef" {
		t.Errorf("csrf secret not taken from the environment")
	}
	if err := cfg.Validate(); err != nil {
		t.Error(err)
	}
	for _, env := range []string{"TOUSU_KAFKA_REPLICATION=三", "TOUSU_KAFKA_MIN_INSYNC_REPLICAS=2 "} {
		if _, err := Load("", []string{env}); err == nil || !strings.Contains(err.Error(), "is not a whole number") {
			t.Errorf("%s: %v", env, err)
		}
	}
	_, err = Load("", []string{"TOUSU_WEBFORM_CSRF_SECRET=short"})
	if err == nil || !strings.Contains(err.Error(), "webform.csrf_secret: must be at least 32 bytes") {
		t.Errorf("a short CSRF secret: %v", err)
	}
}

// TestKafkaSecurityFromEnvironment points tousu at a secured cluster
// with variables only: the password is read from its variable or file,
// printed by name only, and a wrong value is named by its variable.
func TestKafkaSecurityFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	passwordFile := filepath.Join(dir, "kafka-password")
	if err := os.WriteFile(passwordFile, []byte("Msk-投诉-2024\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"TOUSU_KAFKA_BROKERS=b-1.tousu.kafka.cn-north-1.amazonaws.com.cn:9096", "TOUSU_KAFKA_SASL_MECHANISM=scram-sha-512", "TOUSU_KAFKA_SASL_USERNAME=tousu-gateway", "TOUSU_KAFKA_TLS=true"}
	tests := []struct {
		name     string
		env      []string
		password string
		printed  string // in the printed configuration
	}{
		{"password in a variable", []string{"TOUSU_KAFKA_SASL_PASSWORD=Msk-投诉-变量"}, "Msk-投诉-变量", "env: TOUSU_KAFKA_SASL_PASSWORD"},
		{"password in a file", []string{"TOUSU_KAFKA_SASL_PASSWORD_FILE=" + passwordFile, "TOUSU_KAFKA_TLS_CA_FILE=/etc/tousu/kafka-ca.pem", "TOUSU_KAFKA_TLS_SERVER_NAME=kafka.tousu.internal"}, "Msk-投诉-2024", "file: " + passwordFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load("", append(slices.Clone(base), tt.env...))
			if err != nil {
				t.Fatal(err)
			}
			b := cfg.Bus
			if b.SASL.Mechanism != "SCRAM-SHA-512" || b.SASL.Username != "tousu-gateway" || b.SASL.Password.Reveal() != tt.password || !b.TLS.Enabled {
				t.Errorf("bus = %+v", b)
			}
			out, err := cfg.YAML()
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(out), tt.password) || !strings.Contains(string(out), tt.printed) {
				t.Errorf("printed configuration shows the password or not its source %q:\n%s", tt.printed, out)
			}
		})
	}
	for _, tt := range []struct{ env, want string }{
		{"TOUSU_KAFKA_TLS=是", `TOUSU_KAFKA_TLS: "是" is not true or false`},
		{"TOUSU_KAFKA_SASL_PASSWORD_FILE=/nonexistent/kafka-password", "bus.sasl.password_file: open /nonexistent/kafka-password"},
		{"TOUSU_KAFKA_SASL_MECHANISM=PLAIN", "bus.sasl.mechanism: PLAIN sends the password in the clear"},
	} {
		env := []string{"TOUSU_KAFKA_BROKERS=k1:9092", "TOUSU_KAFKA_SASL_USERNAME=tousu", "TOUSU_KAFKA_SASL_PASSWORD=x", tt.env}
		if !strings.HasPrefix(tt.env, "TOUSU_KAFKA_SASL_MECHANISM=") {
			env = append(env, "TOUSU_KAFKA_SASL_MECHANISM=SCRAM-SHA-256")
		}
		if _, err := Load("", env); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.env, err, tt.want)
		}
	}
}

// TestElasticsearchSecurityFromEnvironment points tousu at a secured
// Elasticsearch with variables only, as the Kafka variables do for the
// bus: the API key or the password is read from its variable or file and
// printed by name only, the TLS files reach index.elasticsearch.tls, and
// a missing file is named by its key.
func TestElasticsearchSecurityFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "es-api-key")
	if err := os.WriteFile(keyFile, []byte("VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"TOUSU_KAFKA_BROKERS=k1:9092", "TOUSU_ELASTICSEARCH_URLS=https://es-1.tousu.internal:9200",
		"TOUSU_ELASTICSEARCH_TLS_CA_FILE=/etc/tousu/es-ca.pem", "TOUSU_ELASTICSEARCH_TLS_SERVER_NAME=es.tousu.internal"}
	tests := []struct {
		name    string
		env     []string
		secret  string // the API key or the password, never printed
		printed string // in the printed configuration
		check   func(esindex.Config) bool
	}{
		{"API key in a variable", []string{"TOUSU_ELASTICSEARCH_API_KEY=a2V5LWlkOmtleS3mipXor4k="}, "a2V5LWlkOmtleS3mipXor4k=", "env: TOUSU_ELASTICSEARCH_API_KEY",
			func(c esindex.Config) bool { return c.APIKey.Reveal() == "a2V5LWlkOmtleS3mipXor4k=" }},
		{"API key in a file", []string{"TOUSU_ELASTICSEARCH_API_KEY_FILE=" + keyFile}, "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==", "file: " + keyFile,
			func(c esindex.Config) bool {
				return c.APIKey.Reveal() == "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="
			}},
		{"user and password", []string{"TOUSU_ELASTICSEARCH_USERNAME=tousu_writer", "TOUSU_ELASTICSEARCH_PASSWORD=Es-投诉-2026", "TOUSU_ELASTICSEARCH_TLS_CERT_FILE=/etc/tousu/es-client.pem", "TOUSU_ELASTICSEARCH_TLS_KEY_FILE=/etc/tousu/es-client-key.pem"},
			"Es-投诉-2026", "env: TOUSU_ELASTICSEARCH_PASSWORD",
			func(c esindex.Config) bool {
				return c.Username == "tousu_writer" && c.Password.Reveal() == "Es-投诉-2026" && c.TLS.CertFile == "/etc/tousu/es-client.pem" && c.TLS.KeyFile == "/etc/tousu/es-client-key.pem"
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load("", append(slices.Clone(base), tt.env...))
			if err != nil {
				t.Fatal(err)
			}
			es := cfg.Index.Elasticsearch
			if cfg.Index.Backend != "elasticsearch" || es.TLS.CAFile != "/etc/tousu/es-ca.pem" || es.TLS.ServerName != "es.tousu.internal" || !tt.check(es) {
				t.Errorf("index = %s %+v", cfg.Index.Backend, es)
			}
			out, err := cfg.YAML()
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(out), tt.secret) || !strings.Contains(string(out), tt.printed) {
				t.Errorf("printed configuration shows the secret or not its source %q:\n%s", tt.printed, out)
			}
		})
	}
	env := append(slices.Clone(base), "TOUSU_ELASTICSEARCH_API_KEY_FILE=/nonexistent/es-api-key")
	if _, err := Load("", env); err == nil || !strings.Contains(err.Error(), "index.elasticsearch.api_key_file") || !strings.Contains(err.Error(), "/nonexistent/es-api-key") {
		t.Errorf("a missing API key file: %v", err)
	}
}

func TestParseTargets(t *testing.T) {
	tests := []struct {
		list     string
		embedded bool
		want     []Target
	}{
		{"all", true, []Target{"alerts", "batcher", "broker", "console", "escalator", "gateway", "indexer", "normalizer", "poller", "router", "sender"}},
		{"all", false, []Target{"alerts", "batcher", "console", "escalator", "gateway", "indexer", "normalizer", "poller", "router", "sender"}},
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
	cfg, err := Load("", nil)
	if err != nil {
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
	cfg.Security.Secret = secret.Inline(strings.Repeat("s", 32))
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
		{routing.MaxRecordBytesLimit, routing.MaxRecordBytesLimit},
		{router.MinRecordBytes - 1, 0},
		{bus.MaxRecordBytes, 0},
		{-1, 0},
	}
	for _, tt := range tests {
		cfg, err := Load(writeConfig(t, fmt.Sprintf("router:\n  max_record_bytes: %d\n", tt.value)), nil)
		switch {
		case tt.want == 0 && (err == nil || !strings.Contains(err.Error(), "router.max_record_bytes: ")):
			t.Errorf("max_record_bytes %d: Load() = %v, want an error naming router.max_record_bytes", tt.value, err)
		case tt.want != 0 && (err != nil || cfg.Router.MaxRecordBytes != tt.want):
			t.Errorf("max_record_bytes %d: Validate() = %v, value %d, want %d", tt.value, err, cfg.Router.MaxRecordBytes, tt.want)
		}
	}
}
