package bus

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol/metadata"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/tousu/tousu/internal/secret"
	"github.com/tousu/tousu/internal/tlsfiles"
)

// The SASL mechanisms of SASLConfig.Mechanism.
const (
	MechanismSCRAMSHA512 = "SCRAM-SHA-512"
	MechanismSCRAMSHA256 = "SCRAM-SHA-256"
	MechanismPlain       = "PLAIN"
)

// SASLConfig is the SASL authentication of every connection to the
// brokers. The zero value authenticates nothing.
type SASLConfig struct {
	// Mechanism is SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN (upper or lower
	// case); empty means no SASL. PLAIN sends the password itself and is
	// accepted with tls.enabled only.
	Mechanism string `yaml:"mechanism"`
	// Username is the Kafka user.
	Username string `yaml:"username"`
	// Password is the user's password: inline, or better from a file or
	// an environment variable. It never appears in logs or errors.
	Password secret.Secret `yaml:"password"`
}

// TLSConfig is the TLS of every connection to the brokers. The zero value
// is plaintext.
type TLSConfig struct {
	// Enabled turns TLS on (security.protocol SSL, or SASL_SSL with sasl).
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM file of the certificate authorities that sign the
	// brokers' certificates; it replaces the system's, as a Java
	// truststore does. Empty trusts the system's (public certificates, as
	// Confluent Cloud and Amazon MSK have).
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a PEM certificate and its key, for mutual
	// TLS (brokers with ssl.client.auth); both or neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName is the name the brokers' certificates must carry; empty
	// means the host of each broker address.
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify accepts any certificate, so anyone on the path can
	// read the traffic and the password. For a test bench only; tousu
	// warns at start while it is set.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// security is what SASLConfig and TLSConfig make of their files: the TLS
// configuration and the SASL mechanism of every connection.
type security struct {
	tls  *tls.Config
	sasl sasl.Mechanism
	// who names the mechanism and the user for errors, e.g.
	// `SCRAM-SHA-512 user "tousu"`.
	who string
}

// provision writes the mechanism as Kafka names it.
func (s *SASLConfig) provision() { s.Mechanism = mechanismName(s.Mechanism) }

// mechanismName is the mechanism m names, upper case and trimmed.
func mechanismName(m string) string { return strings.ToUpper(strings.TrimSpace(m)) }

// validate reports every invalid field, by key below sasl. It reads no
// file.
func (s SASLConfig) validate(tlsEnabled bool) []error {
	var errs []error
	mechanism := mechanismName(s.Mechanism)
	switch mechanism {
	case "":
		if s.Username != "" || s.Password.IsSet() {
			errs = append(errs, errors.New("sasl.mechanism: a user or password is set but no mechanism (SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN)"))
		}
		return errs
	case MechanismSCRAMSHA512, MechanismSCRAMSHA256:
	case MechanismPlain:
		if !tlsEnabled {
			errs = append(errs, errors.New("sasl.mechanism: PLAIN sends the password in the clear; set tls.enabled too (SASL_SSL)"))
		}
	default:
		errs = append(errs, fmt.Errorf("sasl.mechanism: %q is not SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN", s.Mechanism))
	}
	if s.Username == "" {
		errs = append(errs, fmt.Errorf("sasl.username: %s needs a user", mechanism))
	}
	if err := s.Password.Check(); err != nil {
		errs = append(errs, fmt.Errorf("sasl.password: %w", err))
	} else if !s.Password.IsSet() {
		errs = append(errs, fmt.Errorf("sasl.password: %s needs a password (value, file or env)", mechanism))
	}
	return errs
}

// validate reports every invalid field, by key below tls. It reads no
// file.
func (t TLSConfig) validate() []error {
	var errs []error
	if !t.Enabled {
		for _, f := range []struct {
			key string
			set bool
		}{{"ca_file", t.CAFile != ""}, {"cert_file", t.CertFile != ""}, {"key_file", t.KeyFile != ""}, {"server_name", t.ServerName != ""}, {"insecure_skip_verify", t.InsecureSkipVerify}} {
			if f.set {
				errs = append(errs, fmt.Errorf("tls.%s: set, but tls.enabled is false", f.key))
			}
		}
		return errs
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		errs = append(errs, errors.New("tls.cert_file: cert_file and key_file go together (mutual TLS)"))
	}
	if t.InsecureSkipVerify && t.CAFile != "" {
		errs = append(errs, errors.New("tls.insecure_skip_verify: set with ca_file, whose authorities would not be checked; remove one"))
	}
	return errs
}

// ResolveSecrets reads sasl.password from its file (relative to dir) or
// environment variable.
func (c *Config) ResolveSecrets(dir string, lookupEnv func(string) (string, bool)) error {
	return c.SASL.Password.ResolveAt("sasl", "password", dir, lookupEnv)
}

// Warnings returns what an operator should hear about the configuration
// at start: TLS that verifies nothing.
func (c Config) Warnings() []string {
	if c.TLS.Enabled && c.TLS.InsecureSkipVerify {
		return []string{"tls.insecure_skip_verify is set: the brokers' certificates are not checked, so anyone on the network path can read the complaints and the SASL password"}
	}
	return nil
}

// Load reads the TLS files and the SASL password (a password not resolved
// yet is read relative to the working directory) and keeps what they make
// in c, so that later connections read nothing. Errors name the key and
// the file, never a secret. The package's functions load a Config that was
// not loaded at each call.
func (c *Config) Load() error {
	sec, err := c.loadSecurity()
	if err != nil {
		return err
	}
	c.sec = sec
	return nil
}

func (c Config) loadSecurity() (*security, error) {
	sec := &security{}
	if c.TLS.Enabled {
		t := c.TLS
		tc, err := tlsfiles.ClientConfig(t.CAFile, t.CertFile, t.KeyFile, t.ServerName)
		if err != nil {
			return nil, fmt.Errorf("tls.%w", err)
		}
		tc.InsecureSkipVerify = t.InsecureSkipVerify //nolint:gosec // refused unless set, and warned
		sec.tls = tc
	}
	s := c.SASL
	s.provision()
	if s.Mechanism == "" {
		return sec, nil
	}
	if err := s.Password.Resolve("", nil); err != nil {
		return nil, fmt.Errorf("%s: %w", s.Password.Key("sasl.password"), err)
	}
	password := s.Password.Reveal()
	sec.who = fmt.Sprintf("%s user %q", s.Mechanism, s.Username)
	switch s.Mechanism {
	case MechanismPlain:
		sec.sasl = plain.Mechanism{Username: s.Username, Password: password}
	default:
		algo := scram.SHA512
		if s.Mechanism == MechanismSCRAMSHA256 {
			algo = scram.SHA256
		}
		m, err := scram.Mechanism(algo, s.Username, password)
		if err != nil {
			return nil, fmt.Errorf("sasl.password: %s does not take this user name or password (not valid UTF-8?)", s.Mechanism)
		}
		sec.sasl = m
	}
	return sec, nil
}

// dialer returns a Dialer for readers with the TLS and SASL of c (ready).
func (c Config) dialer() *kafka.Dialer {
	return &kafka.Dialer{ClientID: c.ClientID, Timeout: 10 * time.Second, DualStack: true, TLS: c.sec.tls, SASLMechanism: c.sec.sasl}
}

// transport sets the client id, a dial timeout of 5s and the TLS and SASL
// of c (ready) on tr, and returns it.
func (c Config) transport(tr *kafka.Transport) *kafka.Transport {
	tr.ClientID, tr.DialTimeout, tr.TLS, tr.SASL = c.ClientID, 5*time.Second, c.sec.tls, c.sec.sasl
	return tr
}

// roundTripper is a RoundTripper whose errors say when the brokers refused
// the SASL authentication or their certificate was not trusted.
type roundTripper struct {
	kafka.RoundTripper
	sec *security
}

// RoundTrip implements kafka.RoundTripper.
func (r roundTripper) RoundTrip(ctx context.Context, addr net.Addr, req kafka.Request) (kafka.Response, error) {
	resp, err := r.RoundTripper.RoundTrip(ctx, addr, req)
	if errors.Is(err, kafka.BrokerNotAvailable) {
		// A request for a given broker (CreateTopics goes to the
		// controller) finds none when the transport could not learn the
		// cluster's layout; a metadata request, answered from the
		// transport's cache, says why.
		if _, why := r.RoundTripper.RoundTrip(ctx, addr, &metadata.Request{}); why != nil {
			err = fmt.Errorf("%w (%w)", err, why)
		}
	}
	return resp, r.sec.explain(err)
}

// explain wraps err with what it means when the brokers refused the SASL
// user or their certificate: the mechanism and the user, never the
// password.
func (s *security) explain(err error) error {
	if err == nil || s == nil {
		return err
	}
	var unknown x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	switch {
	case s.sasl != nil && (errors.Is(err, kafka.SASLAuthenticationFailed) || errors.Is(err, kafka.IllegalSASLState)):
		return fmt.Errorf("bus: the broker refused SASL %s (wrong user or password, or no credential of this mechanism): %w", s.who, err)
	case s.sasl != nil && errors.Is(err, kafka.UnsupportedSASLMechanism):
		return fmt.Errorf("bus: the broker does not offer SASL %s (sasl.mechanism): %w", s.who, err)
	case errors.As(err, &unknown), errors.As(err, &hostname), errors.As(err, &invalid), errors.As(err, &verify):
		return fmt.Errorf("bus: TLS: the broker's certificate is not trusted (tls.ca_file, tls.server_name): %w", err)
	}
	return err
}
