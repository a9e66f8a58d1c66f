package servertest

import (
	"net/url"
	"os"
	"strings"
	"testing"
)

// ESSecure is the second Elasticsearch node of deploy/dev/services.sh,
// es-secure: x-pack security, HTTPS only, an API key. services.sh env
// prints its CA, API key file, password file, run directory and transport
// port beside it (TOUSU_TEST_ES_SECURE_*).
var ESSecure = Server{"TOUSU_TEST_ES_SECURE", `the https URL of the secured Elasticsearch node: deploy/dev/services.sh start es-secure; eval "$(deploy/dev/services.sh env)"`}

// SecureES is the secured Elasticsearch node a test holds.
type SecureES struct {
	// URL is the node's https URL.
	URL string
	// CAFile is the PEM file of the CA that signed its certificate.
	CAFile string
	// APIKeyFile holds an API key the node accepts (base64 "id:key").
	APIKeyFile string
	// PasswordFile holds the password of the user elastic.
	PasswordFile string
	services
}

// RequireSecureES returns the node of TOUSU_TEST_ES_SECURE, skipping or
// failing without it as Require does. Some tests stop the node, so it is
// handed to one test at a time, across packages and processes: this
// blocks until no other test holds it, and the test holds it until its
// end.
func RequireSecureES(tb testing.TB) *SecureES {
	tb.Helper()
	u := Require(tb, ESSecure)
	if u == "" {
		return nil
	}
	get := func(name string) string {
		v := os.Getenv("TOUSU_TEST_ES_SECURE_" + name)
		if v == "" {
			tb.Fatalf("%s is set but TOUSU_TEST_ES_SECURE_%s is not (services.sh env prints both)", ESSecure.Env, name)
		}
		return v
	}
	s := &SecureES{URL: strings.TrimRight(u, "/"), CAFile: get("CA_FILE"), APIKeyFile: get("API_KEY_FILE"), PasswordFile: get("PASSWORD_FILE")}
	run, transport := get("RUN"), get("TRANSPORT_PORT")
	parsed, err := url.Parse(s.URL)
	if err != nil || parsed.Port() == "" {
		tb.Fatalf("%s=%s: no port", ESSecure.Env, u)
		return nil
	}
	s.services = newServices(tb, run, "TOUSU_DEV_ES_SECURE_PORT="+parsed.Port(), "TOUSU_DEV_ES_SECURE_TRANSPORT_PORT="+transport)
	s.hold(tb, "es-secure-test.lock", "the secured Elasticsearch node")
	return s
}

// APIKey returns the API key of APIKeyFile.
func (s *SecureES) APIKey(tb testing.TB) string {
	tb.Helper()
	b, err := os.ReadFile(s.APIKeyFile)
	if err != nil {
		tb.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// Stop stops the node (SIGTERM, as an operator or an orchestrator would)
// and returns once it is gone.
func (s *SecureES) Stop(tb testing.TB) {
	tb.Helper()
	s.run(tb, "stop", "es-secure")
}

// Start starts the node again and returns once it answers.
func (s *SecureES) Start(tb testing.TB) {
	tb.Helper()
	s.run(tb, "start", "es-secure")
}
