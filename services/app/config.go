// Package app wires a tousu process: its configuration, the module graph
// (graph.go: every target a process can run and the internal modules they
// need, in the style of Grafana Loki's single binary) and how the modules
// are started, connected to the broker, the index and the HTTP server, and
// stopped.
package app

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tousu/tousu/configs"
	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/ingest/csvdrop"
	"github.com/tousu/tousu/ingest/imap"
	"github.com/tousu/tousu/ingest/webform"
	"github.com/tousu/tousu/ingest/webhook"
	"github.com/tousu/tousu/internal/keypath"
	"github.com/tousu/tousu/internal/secret"
	"github.com/tousu/tousu/normalize"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/console"
	"github.com/tousu/tousu/services/deadletters"
	"github.com/tousu/tousu/services/httpapi"
	"github.com/tousu/tousu/services/ops"
	"github.com/tousu/tousu/services/privacy"
	"github.com/tousu/tousu/services/serverkey"
	"github.com/tousu/tousu/services/spool"
	"github.com/tousu/tousu/services/stages/escalator"
	"github.com/tousu/tousu/services/stages/routing"
	"github.com/tousu/tousu/services/stages/sender"
	"github.com/tousu/tousu/sinks/alertsink"
	"github.com/tousu/tousu/sinks/bleveindex"
	"github.com/tousu/tousu/sinks/esindex"
	"github.com/tousu/tousu/sinks/outbound"
)

// Config is the configuration of one tousu process. Every section is
// optional; with none, tousu runs embedded under DataDir.
//
// Its lifecycle, as in Caddy: Load decodes it and applies the environment,
// Provision fills every default (opening nothing), ResolveSecrets reads
// the secrets given in files or variables, and Validate only checks. Load
// does all four, once; Start expects its result.
type Config struct {
	// DataDir holds the embedded broker, the Bleve index, attachments and
	// the normalizer's state (default ./data).
	DataDir   string             `yaml:"data_dir"`
	HTTP      httpapi.Config     `yaml:"http"`
	Auth      httpapi.AuthConfig `yaml:"auth"`
	Bus       bus.Config         `yaml:"bus"`
	Broker    bus.BrokerConfig   `yaml:"broker"`
	Index     IndexConfig        `yaml:"index"`
	Intake    ingest.Config      `yaml:"intake"`
	Webform   webform.Config     `yaml:"webform"`
	Webhook   webhook.Config     `yaml:"webhook"`
	IMAP      imap.Config        `yaml:"imap"`
	CSVDrop   csvdrop.Config     `yaml:"csvdrop"`
	Normalize normalize.Config   `yaml:"normalize"`
	Policies  router.PacksConfig `yaml:"policies"`
	Router    routing.Config     `yaml:"router"`
	Escalator escalator.Config   `yaml:"escalator"`
	Alerts    alertsink.Config   `yaml:"alerts"`
	// Sender configures the delivery of messages to customers (SMTP
	// servers, retries, rate limits).
	Sender sender.Config `yaml:"sender"`
	Log    LogConfig     `yaml:"log"`
	// Security names the server secret that every replica shares.
	Security serverkey.Config `yaml:"security"`
	// Session configures the console's sign-in sessions and lock-out.
	Session console.SessionConfig `yaml:"session"`
	// DeadLetters bounds the dead letters each console keeps in memory.
	DeadLetters deadletters.Config `yaml:"dead_letters"`
	// Heartbeat sets how often every process announces itself.
	Heartbeat ops.Config `yaml:"heartbeat"`
	// Spool bounds the gateway's spool: the submissions it keeps on disk
	// while the broker does not take them.
	Spool spool.Config `yaml:"spool"`
	// Privacy sets how long personal information is kept after a case
	// is finished (services/privacy).
	Privacy privacy.Config `yaml:"privacy"`

	// Dir is the directory of the configuration file; relative pack paths
	// are read from it.
	Dir string `yaml:"-"`
}

// IndexConfig chooses the search index backend.
type IndexConfig struct {
	// Backend is "bleve" (embedded, the default) or "elasticsearch".
	Backend       string            `yaml:"backend"`
	Bleve         bleveindex.Config `yaml:"bleve"`
	Elasticsearch esindex.Config    `yaml:"elasticsearch"`
}

// LogConfig configures logging.
type LogConfig struct {
	Level string `yaml:"level"` // debug, info (default), warn, error
}

// Provision fills the default level.
func (c *LogConfig) Provision() {
	if c.Level == "" {
		c.Level = "info"
	}
}

// Validate checks the level.
func (c LogConfig) Validate() error {
	switch c.Level {
	case "", "debug", "info", "warn", "error":
		return nil
	}
	return fmt.Errorf("level: %q is not one of debug, info, warn, error", c.Level)
}

// Provision fills the default backend and the defaults of the chosen one;
// Config.Provision puts the Bleve index under the data directory first.
func (c *IndexConfig) Provision() {
	if c.Backend == "" {
		c.Backend = "bleve"
	}
	if c.Backend == "elasticsearch" {
		c.Elasticsearch.Provision()
	}
}

// ResolveSecrets reads the credentials of Elasticsearch when it is the
// backend.
func (c *IndexConfig) ResolveSecrets(dir string, lookupEnv func(string) (string, bool)) error {
	if c.Backend != "elasticsearch" {
		return nil
	}
	return keypath.Under("elasticsearch", c.Elasticsearch.ResolveSecrets(dir, lookupEnv))
}

// Validate checks the backend and its section.
func (c IndexConfig) Validate() error {
	var errs []error
	errs = append(errs, keypath.Prefix("bleve", c.Bleve.Validate())...)
	switch c.Backend {
	case "", "bleve":
	case "elasticsearch":
		errs = append(errs, keypath.Prefix("elasticsearch", c.Elasticsearch.Validate())...)
	default:
		errs = append(errs, fmt.Errorf("backend: %q is not bleve or elasticsearch", c.Backend))
	}
	return errors.Join(errs...)
}

// Embedded reports whether this process runs without an external broker.
func (c *Config) Embedded() bool { return len(c.Bus.Brokers) == 0 }

// Defaults returns the configuration tousu runs with when no file is given.
func Defaults() Config {
	return Config{DataDir: "data", Dir: ".", Policies: router.PacksConfig{Packs: []router.PackRef{{Path: "builtin:telecom"}}}, Alerts: alertsink.DefaultConfig()}
}

// Load returns the effective configuration of a process, in these steps
// and only here: it decodes the file at path strictly over the defaults
// (Decode; an empty path means the defaults), applies the environment,
// then edits in order (the command line's flags), provisions every
// section (Provision: defaults, nothing opened), reads the secrets given
// in files or environment variables (ResolveSecrets) and validates once
// (Validate). Its error lists every problem, each prefixed with its key
// path (bus.brokers[0]: …); with a decoding error the Config is zero, with
// any other it is the provisioned one.
func Load(path string, environ []string, edits ...func(*Config)) (Config, error) {
	cfg, err := Decode(path)
	if err != nil {
		return Config{}, err
	}
	if err := applyEnv(&cfg, environ); err != nil {
		return Config{}, err
	}
	for _, edit := range edits {
		edit(&cfg)
	}
	// With an SMTP sender, e-mail complaints are acknowledged unless the
	// router's outbound section says otherwise, and the router's
	// Message-IDs take the sender's domain.
	cfg.Router.Outbound.Defaults(len(cfg.Sender.SMTP) > 0, cfg.Sender.FromDomain())
	cfg.Provision()
	return cfg, errors.Join(cfg.ResolveSecrets(environ), cfg.Validate())
}

// Decode reads the configuration file at path strictly (unknown keys are
// errors naming their path) over the defaults, without the environment,
// defaults or checks. An empty path means the defaults.
func Decode(path string) (Config, error) {
	cfg := Defaults()
	if path == "" {
		return cfg, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	if err := configs.DecodeStrict(data, &cfg); err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	cfg.Dir = filepath.Dir(path)
	return cfg, nil
}

// DefaultHotlineFolder is the folder every installation watches for
// call-centre CSV exports, DATA/hotline unless csvdrop.folders names one
// "hotline" elsewhere.
const DefaultHotlineFolder = "hotline"

// Environment variables read by applyEnv.
const (
	EnvBootstrapToken = "TOUSU_BOOTSTRAP_TOKEN"
	EnvWebhookSecret  = "TOUSU_WEBHOOK_SECRET_" // + SOURCE
	EnvKafkaBrokers   = "TOUSU_KAFKA_BROKERS"
	// EnvKafkaReplication and EnvKafkaMinInsync set bus.replication and
	// bus.min_insync_replicas, so that one configuration file serves a
	// cluster and a single broker (docker-compose.yml).
	EnvKafkaReplication = "TOUSU_KAFKA_REPLICATION"
	EnvKafkaMinInsync   = "TOUSU_KAFKA_MIN_INSYNC_REPLICAS"
	// EnvKafkaSASLMechanism, EnvKafkaSASLUsername and EnvKafkaSASLPassword
	// (the password itself, named by the variable) or
	// EnvKafkaSASLPasswordFile (a file holding it) set bus.sasl.
	EnvKafkaSASLMechanism    = "TOUSU_KAFKA_SASL_MECHANISM"
	EnvKafkaSASLUsername     = "TOUSU_KAFKA_SASL_USERNAME"
	EnvKafkaSASLPassword     = "TOUSU_KAFKA_SASL_PASSWORD"
	EnvKafkaSASLPasswordFile = "TOUSU_KAFKA_SASL_PASSWORD_FILE"
	// EnvKafkaTLS (true or false) and the files and name of the others
	// set bus.tls; insecure_skip_verify has no variable.
	EnvKafkaTLS           = "TOUSU_KAFKA_TLS"
	EnvKafkaTLSCAFile     = "TOUSU_KAFKA_TLS_CA_FILE"
	EnvKafkaTLSCertFile   = "TOUSU_KAFKA_TLS_CERT_FILE"
	EnvKafkaTLSKeyFile    = "TOUSU_KAFKA_TLS_KEY_FILE"
	EnvKafkaTLSServerName = "TOUSU_KAFKA_TLS_SERVER_NAME"
	EnvESURLs             = "TOUSU_ELASTICSEARCH_URLS"
	// EnvESAPIKey (the key itself, named by the variable) or
	// EnvESAPIKeyFile, EnvESUsername with EnvESPassword or
	// EnvESPasswordFile, and the TLS files and name set the credentials
	// and index.elasticsearch.tls, as the Kafka variables set bus's.
	EnvESAPIKey        = "TOUSU_ELASTICSEARCH_API_KEY"
	EnvESAPIKeyFile    = "TOUSU_ELASTICSEARCH_API_KEY_FILE"
	EnvESUsername      = "TOUSU_ELASTICSEARCH_USERNAME"
	EnvESPassword      = "TOUSU_ELASTICSEARCH_PASSWORD"
	EnvESPasswordFile  = "TOUSU_ELASTICSEARCH_PASSWORD_FILE"
	EnvESTLSCAFile     = "TOUSU_ELASTICSEARCH_TLS_CA_FILE"
	EnvESTLSCertFile   = "TOUSU_ELASTICSEARCH_TLS_CERT_FILE"
	EnvESTLSKeyFile    = "TOUSU_ELASTICSEARCH_TLS_KEY_FILE"
	EnvESTLSServerName = "TOUSU_ELASTICSEARCH_TLS_SERVER_NAME"
	// EnvWebformCSRFSecret signs the web form's CSRF tokens
	// (webform.csrf_secret): the same on every gateway and console.
	EnvWebformCSRFSecret = webform.EnvCSRFSecret
	// EnvSecret is the server secret (security.secret).
	EnvSecret = serverkey.EnvSecret
	// EnvSMTPURL declares an SMTP sender (sender.smtp) as a URL.
	EnvSMTPURL = outbound.EnvSMTPURL
)

// applyEnv lets an operator run without a file: an admin token, webhook
// sources with their secrets, mailboxes (imap.EnvPrefix), the Kafka
// brokers and their replication and an SMTP sender (EnvSMTPURL, named outbound.EnvSMTPName). A
// secret taken from the environment is named by its variable
// (secret.Secret.Env), so that it is read by ResolveSecrets and printed
// by name only.
func applyEnv(cfg *Config, environ []string) error {
	environ = slices.Clone(environ)
	sort.Strings(environ)
	mailboxes, err := imap.MailboxesFromEnv(environ)
	if err != nil {
		return err
	}
	cfg.IMAP.Mailboxes = append(cfg.IMAP.Mailboxes, mailboxes...)
	cfg.CSVDrop.Folders = append(cfg.CSVDrop.Folders, csvdrop.FoldersFromEnv(environ)...)
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		switch {
		case k == EnvBootstrapToken && v != "":
			cfg.Auth.Tokens = append(cfg.Auth.Tokens, httpapi.Token{Name: "bootstrap", Token: secret.Secret{Env: k}, Role: httpapi.RoleAdmin})
		case strings.HasPrefix(k, EnvWebhookSecret):
			source := strings.ToLower(strings.TrimPrefix(k, EnvWebhookSecret))
			if source == "" {
				return fmt.Errorf("%s: the variable must name a source, e.g. %sACME", k, EnvWebhookSecret)
			}
			if cfg.Webhook.Sources == nil {
				cfg.Webhook.Sources = map[string]webhook.SourceConfig{}
			}
			src := cfg.Webhook.Sources[source]
			src.Secret, src.SecretFile = secret.Secret{Env: k}, ""
			cfg.Webhook.Sources[source] = src
		case k == EnvWebformCSRFSecret && v != "":
			cfg.Webform.CSRFSecret = secret.Secret{Env: k}
		case k == EnvSecret && v != "":
			cfg.Security.Secret, cfg.Security.SecretFile = secret.Secret{Env: k}, ""
		case k == EnvKafkaBrokers && v != "":
			cfg.Bus.Brokers = strings.Split(v, ",")
		case (k == EnvKafkaReplication || k == EnvKafkaMinInsync) && v != "":
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("%s: %q is not a whole number", k, v)
			}
			if k == EnvKafkaReplication {
				cfg.Bus.Replication = n
			} else {
				cfg.Bus.MinInsyncReplicas = n
			}
		case strings.HasPrefix(k, "TOUSU_KAFKA_SASL_") || strings.HasPrefix(k, EnvKafkaTLS):
			if err := applyKafkaSecurityEnv(&cfg.Bus, k, v); err != nil {
				return err
			}
		case k == EnvSMTPURL && v != "":
			smtp, err := outbound.SMTPFromURL(outbound.EnvSMTPName, v)
			if err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
			cfg.Sender.SMTP = append(cfg.Sender.SMTP, sender.SMTPSender{SMTPConfig: smtp})
		case k == EnvESURLs && v != "":
			cfg.Index.Backend = "elasticsearch"
			cfg.Index.Elasticsearch.URLs = strings.Split(v, ",")
		case strings.HasPrefix(k, "TOUSU_ELASTICSEARCH_") && v != "":
			applyESSecurityEnv(&cfg.Index.Elasticsearch, k, v)
		}
	}
	return nil
}

// applyKafkaSecurityEnv sets the key of bus.sasl or bus.tls that the
// variable k names to v; an empty value changes nothing.
func applyKafkaSecurityEnv(b *bus.Config, k, v string) error {
	if v == "" {
		return nil
	}
	switch k {
	case EnvKafkaSASLMechanism:
		b.SASL.Mechanism = v
	case EnvKafkaSASLUsername:
		b.SASL.Username = v
	case EnvKafkaSASLPassword:
		b.SASL.Password = secret.Secret{Env: k}
	case EnvKafkaSASLPasswordFile:
		b.SASL.Password = secret.Secret{File: v}
	case EnvKafkaTLS:
		on, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%s: %q is not true or false", k, v)
		}
		b.TLS.Enabled = on
	case EnvKafkaTLSCAFile:
		b.TLS.CAFile = v
	case EnvKafkaTLSCertFile:
		b.TLS.CertFile = v
	case EnvKafkaTLSKeyFile:
		b.TLS.KeyFile = v
	case EnvKafkaTLSServerName:
		b.TLS.ServerName = v
	}
	return nil
}

// applyESSecurityEnv sets the credential or the key of
// index.elasticsearch.tls that the variable k names to v; a secret
// variable is named, not copied, so that it is printed by name only.
func applyESSecurityEnv(es *esindex.Config, k, v string) {
	switch k {
	case EnvESAPIKey:
		es.APIKey, es.APIKeyFile = secret.Secret{Env: k}, ""
	case EnvESAPIKeyFile:
		es.APIKey, es.APIKeyFile = secret.Secret{}, v
	case EnvESUsername:
		es.Username = v
	case EnvESPassword:
		es.Password, es.PasswordFile = secret.Secret{Env: k}, ""
	case EnvESPasswordFile:
		es.Password, es.PasswordFile = secret.Secret{}, v
	case EnvESTLSCAFile:
		es.TLS.CAFile = v
	case EnvESTLSCertFile:
		es.TLS.CertFile = v
	case EnvESTLSKeyFile:
		es.TLS.KeyFile = v
	case EnvESTLSServerName:
		es.TLS.ServerName = v
	}
}

// section is one key of the configuration and what it holds: a section
// with defaults also has Provision, one with secrets ResolveSecrets
// (secretHolder).
type section struct {
	key string
	v   interface {
		Validate() error
	}
}

// sections lists the sections of c under their keys.
func (c *Config) sections() []section {
	return []section{
		{"http", &c.HTTP}, {"auth", &c.Auth}, {"bus", &c.Bus}, {"broker", &c.Broker}, {"index", &c.Index}, {"intake", &c.Intake},
		{"webform", &c.Webform}, {"webhook", &c.Webhook}, {"imap", &c.IMAP}, {"csvdrop", &c.CSVDrop}, {"normalize", &c.Normalize},
		{"policies", &c.Policies}, {"router", &c.Router}, {"escalator", &c.Escalator}, {"alerts", &c.Alerts}, {"sender", &c.Sender}, {"log", &c.Log},
		{"security", &c.Security}, {"session", &c.Session}, {"dead_letters", &c.DeadLetters}, {"heartbeat", &c.Heartbeat}, {"spool", &c.Spool},
		{"privacy", &c.Privacy},
	}
}

// Provision fills every default of every section, those that depend on
// the data directory included, so that c is the effective configuration.
// It opens nothing and is idempotent.
func (c *Config) Provision() {
	if c.DataDir == "" {
		c.DataDir = "data"
	}
	if c.Index.Bleve.Path == "" {
		c.Index.Bleve.Path = filepath.Join(c.DataDir, "index")
	}
	if c.Broker.Dir == "" {
		c.Broker.Dir = filepath.Join(c.DataDir, "broker")
	}
	if !slices.ContainsFunc(c.CSVDrop.Folders, func(f csvdrop.FolderConfig) bool { return f.Name == DefaultHotlineFolder }) {
		c.CSVDrop.Folders = append(c.CSVDrop.Folders, csvdrop.FolderFromEnv(DefaultHotlineFolder, filepath.Join(c.DataDir, DefaultHotlineFolder)))
	}
	c.Webform.Intake, c.Webhook.Intake, c.CSVDrop.Intake = c.Intake, c.Intake, c.Intake
	c.Webform.Dir = c.Dir
	for _, s := range c.sections() {
		provision(s.v)
	}
	// The status page promises e-mail-only customers progress by e-mail
	// only when the router writes it.
	c.Webform.EmailProgress = c.Router.Outbound.EmailsProgress(len(c.Sender.SMTP) > 0)
}

// provision provisions a section that has defaults.
func provision(v any) {
	if p, ok := v.(interface{ Provision() }); ok {
		p.Provision()
	}
}

// secretHolder is a section with secrets given in files or environment
// variables.
type secretHolder interface {
	ResolveSecrets(dir string, lookupEnv func(string) (string, bool)) error
}

// ResolveSecrets reads every secret given in a file (relative to Dir) or
// in an environment variable (of environ, else of the process), once, and
// reports each one that cannot be read by its key path.
func (c *Config) ResolveSecrets(environ []string) error {
	inEnviron := secret.LookupIn(environ)
	lookup := func(name string) (string, bool) {
		if v, ok := inEnviron(name); ok {
			return v, true
		}
		return os.LookupEnv(name)
	}
	var errs []error
	for _, s := range c.sections() {
		if h, ok := s.v.(secretHolder); ok {
			errs = append(errs, keypath.Prefix(s.key, h.ResolveSecrets(c.Dir, lookup))...)
		}
	}
	return errors.Join(errs...)
}

// Validate checks every section and reports every problem, each prefixed
// once with its key path. It changes nothing.
func (c Config) Validate() error {
	var errs []error
	for _, s := range c.sections() {
		errs = append(errs, keypath.Prefix(s.key, s.v.Validate())...)
	}
	return errors.Join(errs...)
}

// LoadPolicies loads the policy packs the configuration names and checks
// that their calendars cover the present year.
func (c *Config) LoadPolicies(now time.Time) (*router.Packs, error) {
	packs, err := router.LoadPacks(c.Policies, c.Dir)
	if err != nil {
		return nil, fmt.Errorf("policies: %w", err)
	}
	if err := packs.CheckCoverage(now); err != nil {
		return nil, fmt.Errorf("policies: %w", err)
	}
	return packs, nil
}

// YAML returns the configuration as YAML in the layout of a configuration
// file, every secret redacted (see configs.Encode). Call it on the
// effective configuration, as Load returns it; `tousu validate -print`
// shows it.
func (c Config) YAML() ([]byte, error) { return configs.Encode(c) }
