package bus_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tousu/tousu/internal/polltest"
	"github.com/tousu/tousu/internal/secret"
	"github.com/tousu/tousu/internal/servertest"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/bus/bustest"
)

// The password of the tests: what must never show in an error or a log.
const testPassword = "Tousu#2024-12月投诉密码"

func TestSecurityConfigValidate(t *testing.T) {
	brokers := []string{"b-1.tousu-msk.kafka.cn-north-1.amazonaws.com.cn:9096"}
	scram := bus.SASLConfig{Mechanism: "scram-sha-512", Username: "tousu-gateway", Password: secret.Secret{File: "/run/secrets/kafka"}}
	tests := []struct {
		name    string
		cfg     bus.Config
		wantErr string
	}{
		{"SCRAM over TLS (MSK style)", bus.Config{Brokers: brokers, SASL: scram, TLS: bus.TLSConfig{Enabled: true}}, ""},
		{"SCRAM over plaintext", bus.Config{Brokers: brokers, SASL: scram}, ""},
		{"PLAIN over TLS (Confluent style)", bus.Config{Brokers: brokers, SASL: bus.SASLConfig{Mechanism: "PLAIN", Username: "ABCDEFG2HIJK", Password: secret.Secret{Env: "KAFKA_API_SECRET"}}, TLS: bus.TLSConfig{Enabled: true}}, ""},
		{"mutual TLS without SASL", bus.Config{Brokers: brokers, TLS: bus.TLSConfig{Enabled: true, CAFile: "ca.pem", CertFile: "c.pem", KeyFile: "k.pem", ServerName: "kafka.tousu.internal"}}, ""},
		{"PLAIN over plaintext", bus.Config{Brokers: brokers, SASL: bus.SASLConfig{Mechanism: "PLAIN", Username: "u", Password: secret.Inline("x")}}, "sasl.mechanism: PLAIN sends the password in the clear"},
		{"unknown mechanism", bus.Config{Brokers: brokers, SASL: bus.SASLConfig{Mechanism: "GSSAPI", Username: "u", Password: secret.Inline("x")}}, `sasl.mechanism: "GSSAPI" is not SCRAM-SHA-512`},
		{"user without mechanism", bus.Config{Brokers: brokers, SASL: bus.SASLConfig{Username: "tousu"}}, "sasl.mechanism: a user or password is set but no mechanism"},
		{"no user", bus.Config{Brokers: brokers, SASL: bus.SASLConfig{Mechanism: "SCRAM-SHA-256", Password: secret.Inline("x")}}, "sasl.username: SCRAM-SHA-256 needs a user"},
		{"no password", bus.Config{Brokers: brokers, SASL: bus.SASLConfig{Mechanism: "SCRAM-SHA-512", Username: "tousu"}}, "sasl.password: SCRAM-SHA-512 needs a password"},
		{"password twice", bus.Config{Brokers: brokers, SASL: bus.SASLConfig{Mechanism: "SCRAM-SHA-512", Username: "tousu", Password: secret.Secret{File: "a", Env: "B"}}}, "sasl.password: set one of"},
		{"CA without TLS", bus.Config{Brokers: brokers, TLS: bus.TLSConfig{CAFile: "ca.pem"}}, "tls.ca_file: set, but tls.enabled is false"},
		{"skip verify without TLS", bus.Config{Brokers: brokers, TLS: bus.TLSConfig{InsecureSkipVerify: true}}, "tls.insecure_skip_verify: set, but tls.enabled is false"},
		{"skip verify with a CA", bus.Config{Brokers: brokers, TLS: bus.TLSConfig{Enabled: true, CAFile: "ca.pem", InsecureSkipVerify: true}}, "tls.insecure_skip_verify: set with ca_file"},
		{"certificate without key", bus.Config{Brokers: brokers, TLS: bus.TLSConfig{Enabled: true, CertFile: "c.pem"}}, "tls.cert_file: cert_file and key_file go together"},
		{"SASL on the embedded broker", bus.Config{SASL: scram}, "brokers: sasl and tls are for the brokers named here"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			checkErr(t, err, tt.wantErr)
			checkKeyOnce(t, err, tt.wantErr)
		})
	}
}

func TestSecurityWarnings(t *testing.T) {
	on := bus.Config{TLS: bus.TLSConfig{Enabled: true, InsecureSkipVerify: true}}
	if w := on.Warnings(); len(w) != 1 || !strings.HasPrefix(w[0], "tls.insecure_skip_verify is set") {
		t.Errorf("warnings with insecure_skip_verify: %q", w)
	}
	if w := (bus.Config{TLS: bus.TLSConfig{Enabled: true}}).Warnings(); len(w) != 0 {
		t.Errorf("warnings with verified TLS: %q", w)
	}
}

// pki is a certificate authority of the tests with a server certificate
// for 127.0.0.1 and a client certificate, in PEM files.
type pki struct {
	CA, ServerCert, ServerKey, ClientCert, ClientKey string
	server                                           tls.Certificate
	pool                                             *x509.CertPool
}

// newPKI writes a CA, a server certificate for 127.0.0.1 and a client
// certificate into a temporary directory.
func newPKI(tb testing.TB, name string) *pki {
	tb.Helper()
	dir := tb.TempDir()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		return k
	}
	write := func(file, kind string, der []byte) string {
		path := filepath.Join(dir, file)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
			tb.Fatal(err)
		}
		return path
	}
	caKey := key()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	p := &pki{CA: write("ca.pem", "CERTIFICATE", caDER), pool: x509.NewCertPool()}
	p.pool.AddCert(caCert)
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage, ips []net.IP) (string, string) {
		k := key()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour),
			NotAfter: time.Now().Add(24 * time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips, KeyUsage: x509.KeyUsageDigitalSignature}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			tb.Fatal(err)
		}
		kder, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			tb.Fatal(err)
		}
		return write(cn+".pem", "CERTIFICATE", der), write(cn+"-key.pem", "PRIVATE KEY", kder)
	}
	p.ServerCert, p.ServerKey = leaf(2, "127.0.0.1", x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)})
	p.ClientCert, p.ClientKey = leaf(3, "tousu-gateway", x509.ExtKeyUsageClientAuth, nil)
	p.server, err = tls.LoadX509KeyPair(p.ServerCert, p.ServerKey)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// startSecuredBroker starts an in-process broker that takes SASL over
// TLS only, with the SCRAM-SHA-512 user tousu of testPassword, and
// requires a client certificate of p's CA.
func startSecuredBroker(tb testing.TB, p *pki) string {
	tb.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "tousu", testPassword),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{p.server}, ClientCAs: p.pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

// securedConfig is the configuration that reaches the brokers of the
// secured listener.
func securedConfig(brokers []string, mechanism, user string, password secret.Secret, p *pki) bus.Config {
	return bus.Config{Brokers: brokers, ClientID: "bustest",
		SASL: bus.SASLConfig{Mechanism: mechanism, Username: user, Password: password},
		TLS:  bus.TLSConfig{Enabled: true, CAFile: p.CA, CertFile: p.ClientCert, KeyFile: p.ClientKey}}
}

// refusals checks that the secured brokers refuse each wrong way in with
// the error it deserves, and that no error names the password. ok is the
// configuration that gets in; foreign is a CA of nobody's. answers says
// that the brokers answer a failed SASL authentication with its error,
// as Kafka does (the in-process broker hangs up).
func refusals(t *testing.T, ok bus.Config, password string, foreign *pki, answers bool) {
	wrong := func(change func(*bus.Config)) bus.Config {
		c := ok
		change(&c)
		return c
	}
	tests := []struct {
		name string
		cfg  bus.Config
		want []string // parts of the error; none: any error
	}{
		{"wrong password", wrong(func(c *bus.Config) { c.SASL.Password = secret.Inline("Tousu#2024-12月投诉密玛") }),
			[]string{"refused SASL " + strings.ToUpper(ok.SASL.Mechanism) + ` user "` + ok.SASL.Username + `"`}},
		{"unknown user", wrong(func(c *bus.Config) { c.SASL.Username = "zhangsan" }), []string{"refused SASL " + strings.ToUpper(ok.SASL.Mechanism) + ` user "zhangsan"`}},
		{"wrong CA", wrong(func(c *bus.Config) { c.TLS.CAFile = foreign.CA }), []string{"TLS: the broker's certificate is not trusted", "x509"}},
		{"system CAs", wrong(func(c *bus.Config) { c.TLS.CAFile = "" }), []string{"TLS: the broker's certificate is not trusted"}},
		{"plaintext", wrong(func(c *bus.Config) { c.TLS, c.SASL = bus.TLSConfig{}, bus.SASLConfig{} }), nil},
		{"TLS without SASL", wrong(func(c *bus.Config) { c.SASL = bus.SASLConfig{} }), nil},
		{"SASL without TLS", wrong(func(c *bus.Config) { c.TLS = bus.TLSConfig{} }), nil},
		{"client certificate of another CA", wrong(func(c *bus.Config) { c.TLS.CertFile, c.TLS.KeyFile = foreign.ClientCert, foreign.ClientKey }), nil},
		{"no client certificate", wrong(func(c *bus.Config) { c.TLS.CertFile, c.TLS.KeyFile = "", "" }), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err := bus.Ping(ctx, tt.cfg)
			if err == nil {
				t.Fatal("got in")
			}
			t.Logf("refused: %v", err)
			for _, w := range tt.want {
				if !answers && strings.Contains(w, "SASL") {
					continue
				}
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), password) || strings.Contains(err.Error(), "密玛") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

// TestSecuredEmbedded runs the core contract cases over SCRAM-SHA-512
// and mutual TLS against an in-process broker, then every refusal.
func TestSecuredEmbedded(t *testing.T) {
	p, foreign := newPKI(t, "tousu 测试 CA"), newPKI(t, "别人的 CA")
	addr := startSecuredBroker(t, p)
	passwordFile := filepath.Join(t.TempDir(), "kafka-password")
	if err := os.WriteFile(passwordFile, []byte(testPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := securedConfig([]string{addr}, "scram-sha-512", "tousu", secret.Secret{File: passwordFile}, p)
	bustest.RunConfig(t, cfg, bustest.Core...)
	t.Run("refusals", func(t *testing.T) { refusals(t, cfg, testPassword, foreign, false) })
}

// TestSecuredLogsNoSecret runs a producer and a consumer with a wrong
// password and a right one and checks that no log line shows it.
func TestSecuredLogsNoSecret(t *testing.T) {
	p := newPKI(t, "tousu 测试 CA")
	addr := startSecuredBroker(t, p)
	core, logs := observer.New(zap.DebugLevel)
	logger := zap.New(core)
	for _, password := range []string{"13800138000-错的密码", testPassword} {
		cfg := securedConfig([]string{addr}, "SCRAM-SHA-512", "tousu", secret.Inline(password), p)
		prod, err := bus.NewProducer(cfg, logger, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = bus.CreateTopics(ctx, cfg, 1, "complaints.raw")
		if err == nil {
			err = prod.Write(ctx, bus.Message{Topic: "complaints.raw", Key: []byte("webform:0001"), Value: []byte(`{"v":1,"text":"12月3日充的话费没到账"}`)})
		}
		cancel()
		prod.Close()
		if (err == nil) != (password == testPassword) {
			t.Errorf("password %q: %v", password, err)
		}
		if err != nil && strings.Contains(err.Error(), password) {
			t.Errorf("error %q shows the password", err)
		}
	}
	// A consumer with the wrong password logs its failures as it retries.
	cfg := securedConfig([]string{addr}, "SCRAM-SHA-512", "tousu", secret.Inline("13800138000-错的密码"), p)
	prod, err := bus.NewProducer(securedConfig([]string{addr}, "SCRAM-SHA-512", "tousu", secret.Inline(testPassword), p), logger, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	c, err := bus.NewConsumer(cfg, bus.ConsumerConfig{Group: "tousu-normalizer", Topic: "complaints.raw"}, prod, func(context.Context, bus.Message) error { return nil }, logger, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	polltest.Until(t, "the consumer logs a failure", func() bool { return logs.Len() > 0 })
	cancel()
	<-done
	c.Close()

	var all bytes.Buffer
	for _, e := range logs.All() {
		fmt.Fprintf(&all, "%s %v\n", e.Message, e.ContextMap())
	}
	for _, pw := range []string{"13800138000-错的密码", testPassword} {
		if strings.Contains(all.String(), pw) {
			t.Errorf("a log line shows the password %q:\n%s", pw, all.String())
		}
	}
}

func TestLoadErrors(t *testing.T) {
	p := newPKI(t, "tousu 测试 CA")
	notPEM := filepath.Join(t.TempDir(), "ca.txt")
	if err := os.WriteFile(notPEM, []byte("投诉网关 CA 证书（待补）\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TOUSU_TEST_EMPTY_PASSWORD", "")
	tests := []struct {
		name string
		cfg  bus.Config
		want string
	}{
		{"missing CA", bus.Config{TLS: bus.TLSConfig{Enabled: true, CAFile: "/nonexistent/ca.pem"}}, "tls.ca_file: open /nonexistent/ca.pem"},
		{"CA not PEM", bus.Config{TLS: bus.TLSConfig{Enabled: true, CAFile: notPEM}}, "tls.ca_file: " + notPEM + " holds no PEM certificate"},
		{"key of another certificate", bus.Config{TLS: bus.TLSConfig{Enabled: true, CertFile: p.ClientCert, KeyFile: p.ServerKey}}, "tls.cert_file: " + p.ClientCert},
		{"missing password file", bus.Config{SASL: bus.SASLConfig{Mechanism: "SCRAM-SHA-512", Username: "tousu", Password: secret.Secret{File: "/nonexistent/kafka-password"}}}, "sasl.password_file: open /nonexistent/kafka-password"},
		{"empty password variable", bus.Config{SASL: bus.SASLConfig{Mechanism: "SCRAM-SHA-512", Username: "tousu", Password: secret.Secret{Env: "TOUSU_TEST_EMPTY_PASSWORD"}}}, "sasl.password: the environment variable TOUSU_TEST_EMPTY_PASSWORD is not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Load()
			checkErr(t, err, tt.want)
			// Every function of the package loads a Config by itself.
			tt.cfg.Brokers = []string{"127.0.0.1:1"}
			checkErr(t, bus.Ping(context.Background(), tt.cfg), "bus: "+tt.want)
		})
	}
}

// TestSecuredKafka runs the core contract cases over SCRAM-SHA-512 and
// mutual TLS against real Apache Kafka (its SASL_SSL listener requires a
// client certificate of its CA), checks that SCRAM-SHA-256 and PLAIN get
// in too, and every refusal.
func TestSecuredKafka(t *testing.T) {
	brokers := strings.Split(servertest.Require(t, servertest.KafkaSASL), ",")
	env := func(name string) string {
		v := os.Getenv(name)
		if v == "" {
			t.Fatalf("%s is set but %s is not (deploy/dev/services.sh env prints both)", servertest.KafkaSASL.Env, name)
		}
		return v
	}
	user, passwordFile := env("TOUSU_TEST_KAFKA_SASL_USER"), env("TOUSU_TEST_KAFKA_SASL_PASSWORD_FILE")
	p := &pki{CA: env("TOUSU_TEST_KAFKA_SASL_CA_FILE"), ClientCert: env("TOUSU_TEST_KAFKA_SASL_CERT_FILE"), ClientKey: env("TOUSU_TEST_KAFKA_SASL_KEY_FILE")}
	password, err := os.ReadFile(passwordFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg := securedConfig(brokers, bus.MechanismSCRAMSHA512, user, secret.Secret{File: passwordFile}, p)
	bustest.RunConfig(t, cfg, bustest.Core...)
	t.Run("mechanisms", func(t *testing.T) {
		for _, m := range []string{bus.MechanismSCRAMSHA256, bus.MechanismPlain} {
			c := cfg
			c.SASL.Mechanism = m
			if err := bus.Ping(context.Background(), c); err != nil {
				t.Errorf("%s: %v", m, err)
			}
		}
	})
	t.Run("refusals", func(t *testing.T) {
		refusals(t, cfg, strings.TrimSpace(string(password)), newPKI(t, "别人的 CA"), true)
	})
}
