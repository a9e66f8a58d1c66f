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
	"strings"
	"time"

	"github.com/tousu/tousu/configs"
	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/ingest/csvdrop"
	"github.com/tousu/tousu/ingest/imap"
	"github.com/tousu/tousu/ingest/webform"
	"github.com/tousu/tousu/ingest/webhook"
	"github.com/tousu/tousu/normalize"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/httpapi"
	"github.com/tousu/tousu/services/serverkey"
	"github.com/tousu/tousu/sinks/alertsink"
	"github.com/tousu/tousu/sinks/bleveindex"
	"github.com/tousu/tousu/sinks/esindex"
)

// Config is the configuration of one tousu process. Every section is
// optional; with none, tousu runs embedded under DataDir.
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
	Router    RouterConfig       `yaml:"router"`
	Escalator EscalatorConfig    `yaml:"escalator"`
	Alerts    alertsink.Config   `yaml:"alerts"`
	Log       LogConfig          `yaml:"log"`
	// Security names the server secret that every replica shares.
	Security serverkey.Config `yaml:"security"`

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

// RouterConfig tunes the router stage.
type RouterConfig struct {
	// RetrainInterval is how often the router retrains the classifiers
	// when agents corrected categories since the last time (default 30s).
	RetrainInterval time.Duration `yaml:"retrain_interval"`
	// MaxRecordBytes bounds every record the router (and the batcher)
	// writes to the broker, encoded: a case is fitted to it by leaving out
	// its oldest contacts' texts, contacts, history and list entries (see
	// router.EncodeCase); any other record over it is dead-lettered with
	// its input. Default router.DefaultMaxRecordBytes (512 KiB); at most
	// the broker's limit (bus.MaxRecordBytes) less 64 KiB for keys,
	// headers and the router.state envelope.
	MaxRecordBytes int `yaml:"max_record_bytes"`
}

// maxRouterRecordBytes is the largest router.max_record_bytes allowed.
const maxRouterRecordBytes = bus.MaxRecordBytes - 64<<10

// Validate fills the default and checks the interval.
func (c *RouterConfig) Validate() error {
	if c.RetrainInterval == 0 {
		c.RetrainInterval = 30 * time.Second
	}
	if c.RetrainInterval < 0 {
		return fmt.Errorf("retrain_interval: must be positive, got %s", c.RetrainInterval)
	}
	if c.MaxRecordBytes == 0 {
		c.MaxRecordBytes = router.DefaultMaxRecordBytes
	}
	if c.MaxRecordBytes < router.MinRecordBytes || c.MaxRecordBytes > maxRouterRecordBytes {
		return fmt.Errorf("max_record_bytes: must be between %d and %d (the broker's limit %d less room for keys and headers), got %d",
			router.MinRecordBytes, maxRouterRecordBytes, bus.MaxRecordBytes, c.MaxRecordBytes)
	}
	return nil
}

// EscalatorConfig tunes the escalator, which raises the alerts of the
// cases' escalation ladders when they fall due.
type EscalatorConfig struct {
	// Interval is how often it looks for due alerts (default 5s); an
	// alert is raised at most this late.
	Interval time.Duration `yaml:"interval"`
}

// Validate fills the default and checks the interval.
func (c *EscalatorConfig) Validate() error {
	if c.Interval == 0 {
		c.Interval = 5 * time.Second
	}
	if c.Interval < 0 {
		return fmt.Errorf("interval: must be positive, got %s", c.Interval)
	}
	return nil
}

// LogConfig configures logging.
type LogConfig struct {
	Level string `yaml:"level"` // debug, info (default), warn, error
}

// Embedded reports whether this process runs without an external broker.
func (c *Config) Embedded() bool { return len(c.Bus.Brokers) == 0 }

// Defaults returns the configuration tousu runs with when no file is given.
func Defaults() Config {
	return Config{DataDir: "data", Dir: ".", Policies: router.PacksConfig{Packs: []router.PackRef{{Path: "builtin:telecom"}}}, Alerts: alertsink.DefaultConfig()}
}

// Load reads a configuration file strictly (unknown keys are errors naming
// their path) over the defaults, applies the environment and validates.
// An empty path means defaults plus environment.
func Load(path string, environ []string) (Config, error) {
	cfg := Defaults()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return Config{}, err
		}
		if err := configs.DecodeStrict(data, &cfg); err != nil {
			return Config{}, fmt.Errorf("%s: %w", path, err)
		}
		cfg.Dir = filepath.Dir(path)
	}
	if err := applyEnv(&cfg, environ); err != nil {
		return Config{}, err
	}
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
	EnvESURLs         = "TOUSU_ELASTICSEARCH_URLS"
	// EnvWebformCSRFSecret signs the web form's CSRF tokens
	// (webform.csrf_secret): the same on every gateway and console.
	EnvWebformCSRFSecret = webform.EnvCSRFSecret
	// EnvSecret is the server secret (security.secret).
	EnvSecret = serverkey.EnvSecret
)

// applyEnv lets an operator run without a file: an admin token, webhook
// sources with their secrets, mailboxes (imap.EnvPrefix) and the Kafka
// brokers.
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
			cfg.Auth.Tokens = append(cfg.Auth.Tokens, httpapi.Token{Name: "bootstrap", Token: v, Role: httpapi.RoleAdmin})
		case strings.HasPrefix(k, EnvWebhookSecret):
			source := strings.ToLower(strings.TrimPrefix(k, EnvWebhookSecret))
			if source == "" {
				return fmt.Errorf("%s: the variable must name a source, e.g. %sACME", k, EnvWebhookSecret)
			}
			if cfg.Webhook.Sources == nil {
				cfg.Webhook.Sources = map[string]webhook.SourceConfig{}
			}
			src := cfg.Webhook.Sources[source]
			src.Secret, src.SecretFile = v, ""
			cfg.Webhook.Sources[source] = src
		case k == EnvWebformCSRFSecret && v != "":
			cfg.Webform.CSRFSecret = v
		case k == EnvSecret && v != "":
			cfg.Security.Secret, cfg.Security.SecretFile = v, ""
		case k == EnvKafkaBrokers && v != "":
			cfg.Bus.Brokers = strings.Split(v, ",")
		case k == EnvESURLs && v != "":
			cfg.Index.Backend = "elasticsearch"
			cfg.Index.Elasticsearch.URLs = strings.Split(v, ",")
		}
	}
	return nil
}

// Validate checks every section, filling defaults, and reports all problems
// at once.
func (c *Config) Validate() error {
	if c.DataDir == "" {
		c.DataDir = "data"
	}
	if c.Index.Backend == "" {
		c.Index.Backend = "bleve"
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
	var errs []error
	switch c.Index.Backend {
	case "bleve":
	case "elasticsearch":
		if err := c.Index.Elasticsearch.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("index.elasticsearch: %w", err))
		}
	default:
		errs = append(errs, fmt.Errorf("index.backend: %q is not bleve or elasticsearch", c.Index.Backend))
	}
	switch c.Log.Level {
	case "", "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level: %q is not one of debug, info, warn, error", c.Log.Level))
	}
	sections := []struct {
		name string
		v    interface{ Validate() error }
	}{
		{"http", &c.HTTP}, {"auth", &c.Auth}, {"bus", &c.Bus}, {"broker", &c.Broker}, {"index.bleve", &c.Index.Bleve}, {"intake", c.Intake},
		{"webform", &c.Webform}, {"webhook", &c.Webhook}, {"imap", &c.IMAP}, {"csvdrop", &c.CSVDrop}, {"normalize", &c.Normalize}, {"policies", &c.Policies},
		{"router", &c.Router}, {"escalator", &c.Escalator}, {"alerts", &c.Alerts}, {"security", &c.Security},
	}
	for _, s := range sections {
		if err := s.v.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.name, err))
		}
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
