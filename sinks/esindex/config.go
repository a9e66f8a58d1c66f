package esindex

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/tousu/tousu/internal/secret"
	"github.com/tousu/tousu/sinks/caseindex"
)

// Defaults applied to zero fields of Config.
const (
	DefaultIndexPrefix     = "tousu-cases"
	DefaultShards          = 1
	DefaultReplicas        = 1
	DefaultRefreshInterval = time.Second
	DefaultFlushBytes      = 5 << 20
	DefaultWorkers         = 2
	DefaultRetryBackoff    = 100 * time.Millisecond
	DefaultRequestTimeout  = 30 * time.Second
)

// Config says how to reach Elasticsearch and how to lay out the index. The
// zero value of every field except URLs means its default, filled by
// Provision.
//
// Secrets (api_key, password) can be given inline or, better, as files
// (api_key_file, password_file) whose content, without surrounding
// whitespace, is the secret, or in environment variables. They are never
// logged.
type Config struct {
	// URLs lists the nodes, e.g. https://es1:9200. The client spreads
	// requests over them and sets a node it cannot reach aside for a
	// while, so a retried write goes to another.
	URLs []string `yaml:"urls"`
	// APIKey is the base64 "id:key" API key Elasticsearch issued; it
	// excludes username and password.
	APIKey secret.Secret `yaml:"api_key"`
	// APIKeyFile names a file holding the API key; Provision folds it
	// into APIKey.
	APIKeyFile string `yaml:"api_key_file,omitempty"`
	// Username and Password are for basic authentication.
	Username string        `yaml:"username"`
	Password secret.Secret `yaml:"password"`
	// PasswordFile names a file holding the password; Provision folds it
	// into Password.
	PasswordFile string `yaml:"password_file,omitempty"`
	// TLS says whom to trust on https URLs, and which client
	// certificate to present.
	TLS TLSConfig `yaml:"tls"`

	// IndexPrefix names everything this index creates: the write alias
	// (the prefix itself), the versioned index behind it (prefix-v1) and
	// its index template (prefix-v1). Default "tousu-cases".
	IndexPrefix string `yaml:"index_prefix"`
	// Shards is the number of primary shards of a new index. Default 1.
	Shards int `yaml:"number_of_shards"`
	// Replicas is the number of replicas of a new index; nil means 1. Set
	// 0 on a single node, where a replica can never be assigned.
	Replicas *int `yaml:"number_of_replicas"`
	// RefreshInterval is the index's refresh_interval: a case the indexer
	// wrote is searchable at most this long after its upsert returned (a
	// Get sees it at once). Default 1s.
	RefreshInterval time.Duration `yaml:"refresh_interval"`

	// FlushBytes is the largest bulk request body Upsert sends: a larger
	// upsert is split into several requests, sent at once (a document
	// larger than this goes alone). Default 5 MiB, as esutil.BulkIndexer's.
	FlushBytes int `yaml:"flush_bytes"`
	// Workers is how many bulk requests may be at the node at once, over
	// all concurrent upserts. Default 2.
	Workers int `yaml:"workers"`
	// RetryBackoff is the first pause before an upsert resends the
	// documents the node did not take, and before Open asks a node that
	// is not ready again; it doubles up to 32 times this. Both retry until
	// they succeed or their context ends. Default 100ms.
	RetryBackoff time.Duration `yaml:"retry_backoff"`
	// RequestTimeout bounds each HTTP request. Default 30s.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// Calendars gives the working-day calendar of a case's pack for its
	// SLA facts (caseindex.SLAFacts); nil, or a pack it does not know,
	// means caseindex.DefaultCalendar. Set by code, not configuration.
	Calendars caseindex.Calendars `yaml:"-"`
}

// TLSConfig is the TLS of the https URLs. The zero value trusts the
// system's certificate authorities and presents no certificate.
type TLSConfig struct {
	// CAFile is a PEM file of the certificate authorities that sign the
	// nodes' certificates; it replaces the system's, as a truststore
	// does. Empty trusts the system's (a public certificate, as Elastic
	// Cloud has).
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a PEM certificate and its key, for nodes
	// that require client certificates (xpack.security.http.ssl.
	// client_authentication); both or neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName is the name the nodes' certificates must carry; empty
	// means the host of each URL.
	ServerName string `yaml:"server_name"`
}

// isSet reports whether any field is set.
func (t TLSConfig) isSet() bool { return t != TLSConfig{} }

// DefaultConfig returns a Config with every default filled in and no URLs.
func DefaultConfig() Config {
	replicas := DefaultReplicas
	return Config{
		IndexPrefix:     DefaultIndexPrefix,
		Shards:          DefaultShards,
		Replicas:        &replicas,
		RefreshInterval: DefaultRefreshInterval,
		FlushBytes:      DefaultFlushBytes,
		Workers:         DefaultWorkers,
		RetryBackoff:    DefaultRetryBackoff,
		RequestTimeout:  DefaultRequestTimeout,
	}
}

// Provision fills every zero field but URLs with its default and folds
// api_key_file and password_file into their secrets. It reads nothing.
func (c *Config) Provision() {
	d := DefaultConfig()
	if c.IndexPrefix == "" {
		c.IndexPrefix = d.IndexPrefix
	}
	if c.Shards == 0 {
		c.Shards = d.Shards
	}
	if c.Replicas == nil {
		c.Replicas = d.Replicas
	}
	if c.RefreshInterval == 0 {
		c.RefreshInterval = d.RefreshInterval
	}
	if c.FlushBytes == 0 {
		c.FlushBytes = d.FlushBytes
	}
	if c.Workers == 0 {
		c.Workers = d.Workers
	}
	if c.RetryBackoff == 0 {
		c.RetryBackoff = d.RetryBackoff
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = d.RequestTimeout
	}
	c.APIKey.Fold(&c.APIKeyFile, nil)
	c.Password.Fold(&c.PasswordFile, nil)
}

// ResolveSecrets reads the API key and the password from their files
// (relative to dir) or environment variables.
func (c *Config) ResolveSecrets(dir string, lookupEnv func(string) (string, bool)) error {
	return errors.Join(c.APIKey.ResolveAt("", "api_key", dir, lookupEnv), c.Password.ResolveAt("", "password", dir, lookupEnv))
}

// indexPrefixPattern is what an index name may look like: lower case,
// not starting with -, _ or +, no characters Elasticsearch forbids.
var indexPrefixPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,199}$`)

// Validate reports every reason the configuration cannot be used, each
// by its key, without reading files or contacting a node. It changes
// nothing.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(format, args...))
	}
	if len(c.URLs) == 0 {
		bad("urls: at least one URL is required")
	}
	for i, raw := range c.URLs {
		u, err := url.Parse(raw)
		switch {
		case err != nil:
			bad("urls[%d]: %v", i, err)
		case u.Scheme != "http" && u.Scheme != "https":
			bad("urls[%d]: %q: scheme must be http or https", i, raw)
		case u.Host == "":
			bad("urls[%d]: %q: no host", i, raw)
		case u.User != nil:
			bad("urls[%d]: credentials in the URL are not allowed; use username and password_file", i)
		case u.RawQuery != "" || u.Fragment != "":
			bad("urls[%d]: %q: no query or fragment allowed", i, raw)
		}
	}
	if c.APIKeyFile != "" && c.APIKey.IsSet() || c.APIKey.Check() != nil {
		bad("api_key: api_key and api_key_file are mutually exclusive")
	}
	if c.PasswordFile != "" && c.Password.IsSet() || c.Password.Check() != nil {
		bad("password: password and password_file are mutually exclusive")
	}
	hasKey := c.APIKey.IsSet() || c.APIKeyFile != ""
	hasPassword := c.Password.IsSet() || c.PasswordFile != ""
	switch {
	case hasKey && (c.Username != "" || hasPassword):
		bad("api_key: use either api_key or username and password, not both")
	case c.Username != "" && !hasPassword:
		bad("username: %q needs a password or password_file", c.Username)
	case c.Username == "" && hasPassword:
		bad("username: password given without username")
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		bad("tls.cert_file: cert_file and key_file go together (client certificate)")
	}
	if c.TLS.isSet() && !slices.ContainsFunc(c.URLs, func(u string) bool { return strings.HasPrefix(u, "https://") }) {
		bad("tls: set, but no URL in urls is https")
	}
	if c.IndexPrefix != "" && (!indexPrefixPattern.MatchString(c.IndexPrefix) || strings.Contains(c.IndexPrefix, "..")) {
		bad("index_prefix: %q: use 1 to 200 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit", c.IndexPrefix)
	}
	if c.Shards < 0 || c.Shards > 1024 {
		bad("number_of_shards: must be between 1 and 1024, got %d", c.Shards)
	}
	if c.Replicas != nil && (*c.Replicas < 0 || *c.Replicas > 100) {
		bad("number_of_replicas: must be between 0 and 100, got %d", *c.Replicas)
	}
	for _, d := range []struct {
		name     string
		v, lo, h time.Duration
	}{
		{"refresh_interval", c.RefreshInterval, time.Millisecond, time.Minute},
		{"retry_backoff", c.RetryBackoff, time.Millisecond, time.Minute},
		{"request_timeout", c.RequestTimeout, 100 * time.Millisecond, 10 * time.Minute},
	} {
		if d.v != 0 && (d.v < d.lo || d.v > d.h) {
			bad("%s: must be between %s and %s, got %s", d.name, d.lo, d.h, d.v)
		}
	}
	if c.FlushBytes < 0 {
		bad("flush_bytes: must not be negative, got %d", c.FlushBytes)
	}
	if c.Workers < 0 || c.Workers > 64 {
		bad("workers: must be between 1 and 64, got %d", c.Workers)
	}
	return errors.Join(errs...)
}
