// Package servertest decides what a test does when a real server it needs
// (Apache Kafka, Elasticsearch, Dovecot, Chromium, Prometheus) is not named in the
// environment: it skips with a hint on how to start one, or fails when
// TOUSU_REQUIRE_SERVERS=1 says that every server must be there, as in CI.
package servertest

import (
	"os"
	"testing"
)

// EnvRequire is the variable that turns a missing server from a skip into
// a failure when it is "1".
const EnvRequire = "TOUSU_REQUIRE_SERVERS"

// Server is a real server of the integration tests: the variable that
// names it and how to get one.
type Server struct {
	Env, Hint string
}

// The servers of the integration tests; ./deploy/dev/test.sh starts them all.
var (
	// Kafka is Apache Kafka: comma-separated brokers.
	Kafka = Server{"TOUSU_TEST_KAFKA", `comma-separated Kafka brokers: deploy/dev/services.sh start; eval "$(deploy/dev/services.sh env)"`}
	// KafkaSASL is the SASL_SSL listener of the same Kafka node: its
	// bootstrap address. services.sh env prints its user, password file,
	// CA and client certificate beside it (TOUSU_TEST_KAFKA_SASL_*).
	KafkaSASL = Server{"TOUSU_TEST_KAFKA_SASL", `the SASL_SSL listener of Kafka: deploy/dev/services.sh start; eval "$(deploy/dev/services.sh env)"`}
	// ES is Elasticsearch: its URL.
	ES = Server{"TOUSU_TEST_ES", `an Elasticsearch URL: deploy/dev/services.sh start; eval "$(deploy/dev/services.sh env)"`}
	// IMAP is Dovecot: a mailbox URL.
	IMAP = Server{"TOUSU_TEST_IMAP", `a Dovecot mailbox URL: deploy/dev/dovecot.sh start; eval "$(deploy/dev/dovecot.sh env)"`}
	// Browser is headless Chromium: the path of its executable.
	Browser = Server{"TOUSU_TEST_BROWSER", "the path of a Chromium executable"}
	// Prometheus is the path of Debian's prometheus executable; promtool is
	// beside it.
	Prometheus = Server{"TOUSU_TEST_PROMETHEUS", "the path of a prometheus executable with promtool beside it: apt-get install prometheus; TOUSU_TEST_PROMETHEUS=$(command -v prometheus)"}
)

// Require returns the value of s's variable. When it is empty the test is
// skipped, or fails when TOUSU_REQUIRE_SERVERS=1; either way the message
// says how to start the server.
func Require(tb testing.TB, s Server) string {
	tb.Helper()
	v := os.Getenv(s.Env)
	required := os.Getenv(EnvRequire)
	switch {
	case required != "" && required != "0" && required != "1":
		tb.Fatalf("%s=%q: want 1 (every server required) or 0", EnvRequire, required)
	case v != "":
		return v
	case required == "1":
		tb.Fatalf("%s is not set (%s) and %s=1 requires it", s.Env, s.Hint, EnvRequire)
	default:
		tb.Skipf("%s is not set (%s; ./deploy/dev/test.sh starts every server)", s.Env, s.Hint)
	}
	return ""
}
