package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tousu/tousu/internal/servertest"
)

// securedEnv returns the variables that point tousu at the SASL_SSL
// listener of deploy/dev/services.sh (SCRAM-SHA-512, mutual TLS), and the
// password.
func securedEnv(tb testing.TB) ([]string, string) {
	tb.Helper()
	brokers := servertest.Require(tb, servertest.KafkaSASL)
	get := func(name string) string {
		v := os.Getenv(name)
		if v == "" {
			tb.Fatalf("%s is set but %s is not (deploy/dev/services.sh env prints both)", servertest.KafkaSASL.Env, name)
		}
		return v
	}
	passwordFile := get("TOUSU_TEST_KAFKA_SASL_PASSWORD_FILE")
	password, err := os.ReadFile(passwordFile)
	if err != nil {
		tb.Fatal(err)
	}
	return []string{
		"TOUSU_KAFKA_BROKERS=" + brokers,
		"TOUSU_KAFKA_SASL_MECHANISM=SCRAM-SHA-512",
		"TOUSU_KAFKA_SASL_USERNAME=" + get("TOUSU_TEST_KAFKA_SASL_USER"),
		"TOUSU_KAFKA_SASL_PASSWORD_FILE=" + passwordFile,
		"TOUSU_KAFKA_TLS=true",
		"TOUSU_KAFKA_TLS_CA_FILE=" + get("TOUSU_TEST_KAFKA_SASL_CA_FILE"),
		"TOUSU_KAFKA_TLS_CERT_FILE=" + get("TOUSU_TEST_KAFKA_SASL_CERT_FILE"),
		"TOUSU_KAFKA_TLS_KEY_FILE=" + get("TOUSU_TEST_KAFKA_SASL_KEY_FILE"),
	}, strings.TrimSpace(string(password))
}

// TestSecuredKafkaProcess runs every target of the real binary on the
// SASL_SSL listener, set up by variables only, and follows a complaint to
// its case; then `tousu topics apply` with a wrong password fails naming
// the mechanism and the user. No log line or error shows a password.
func TestSecuredKafkaProcess(t *testing.T) {
	env, password := securedEnv(t)
	p := startProc(t, append(env, "TOUSU_BOOTSTRAP_TOKEN="+testToken, "TOUSU_SECRET="+testSecret), "-data", filepath.Join(t.TempDir(), "data"))
	tag := "加密通道" + time.Now().Format("150405.000")
	p.submitFrom(t, runPhones()(1), tag+" 12月5日起家里宽带每晚断网，报修单号BX20241205没人上门")
	p.waitFor(t, tag, 1)
	p.kill(t)
	if strings.Contains(p.stderr.String(), password) {
		t.Error("the log of tousu serve shows the SASL password")
	}

	const wrong = "Tousu-错误的密码-13800138000"
	cmd := exec.Command(tousuBinary(t), "topics", "apply")
	cmd.Env = append(os.Environ(), "TOUSU_KAFKA_SASL_PASSWORD="+wrong)
	for _, kv := range env {
		if !strings.HasPrefix(kv, "TOUSU_KAFKA_SASL_PASSWORD_FILE=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("topics apply with a wrong password succeeded: %s", out)
	}
	if !strings.Contains(string(out), `refused SASL SCRAM-SHA-512 user "`) || strings.Contains(string(out), wrong) {
		t.Errorf("topics apply with a wrong password: %s; want the mechanism and the user named, not the password", out)
	}
	t.Logf("tousu topics apply with a wrong password: %s", strings.TrimSpace(string(out)))
}
