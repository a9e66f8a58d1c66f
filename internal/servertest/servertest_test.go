package servertest

import (
	"fmt"
	"strings"
	"testing"
)

// fakeTB records what Require asks of a test instead of ending it.
type fakeTB struct {
	testing.TB
	skipped, failed string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Skipf(format string, args ...any) {
	f.skipped = fmt.Sprintf(format, args...)
}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed = fmt.Sprintf(format, args...)
}

func TestRequire(t *testing.T) {
	tests := []struct {
		name, require, value string
		want                 string
		skip, fail           string // what the message must contain; "" = no skip, no failure
	}{
		{name: "set", value: "127.0.0.1:19092", want: "127.0.0.1:19092"},
		{name: "set and required", require: "1", value: "127.0.0.1:19092,127.0.0.1:19093", want: "127.0.0.1:19092,127.0.0.1:19093"},
		{name: "missing", skip: "TOUSU_TEST_KAFKA is not set (comma-separated Kafka brokers: deploy/dev/services.sh start"},
		{name: "missing, explicitly not required", require: "0", skip: "TOUSU_TEST_KAFKA is not set"},
		{name: "missing and required", require: "1", fail: "TOUSU_TEST_KAFKA is not set (comma-separated Kafka brokers: deploy/dev/services.sh start; eval \"$(deploy/dev/services.sh env)\") and TOUSU_REQUIRE_SERVERS=1 requires it"},
		{name: "typo in the requirement", require: "true", fail: `TOUSU_REQUIRE_SERVERS="true": want 1 (every server required) or 0`},
		{name: "full-width one", require: "１", value: "127.0.0.1:19092", fail: `TOUSU_REQUIRE_SERVERS="１"`},
		{name: "space around the one", require: " 1", fail: `TOUSU_REQUIRE_SERVERS=" 1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvRequire, tt.require)
			t.Setenv(Kafka.Env, tt.value)
			f := &fakeTB{}
			got := Require(f, Kafka)
			if got != tt.want {
				t.Errorf("Require = %q, want %q", got, tt.want)
			}
			check(t, "skip", f.skipped, tt.skip)
			check(t, "failure", f.failed, tt.fail)
		})
	}
}

// check fails unless got contains want, and is empty when want is.
func check(tb testing.TB, what, got, want string) {
	tb.Helper()
	if (want == "") != (got == "") || !strings.Contains(got, want) {
		tb.Errorf("%s %q, want one containing %q", what, got, want)
	}
}

func TestRequireMTA(t *testing.T) {
	tests := []struct {
		name                            string
		url, customer, support, mailbox string
		skip, fail                      string
	}{
		{name: "all set", url: "smtp://127.0.0.1:10025?tls=none", customer: "kehu@customer.test", support: "support@tousu.test",
			mailbox: "imap://kehu:x@127.0.0.1:11143/INBOX?tls=none"},
		{name: "missing", skip: "TOUSU_TEST_SMTP is not set (a Postfix SMTP URL: deploy/dev/postfix.sh start"},
		{name: "url without the mailbox", url: "smtp://127.0.0.1:10025?tls=none", customer: "kehu@customer.test", support: "support@tousu.test",
			fail: "TOUSU_TEST_SMTP is set but TOUSU_TEST_SMTP_CUSTOMER, TOUSU_TEST_SMTP_SUPPORT or TOUSU_TEST_IMAP_CUSTOMER is not"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvRequire, "0")
			t.Setenv(SMTP.Env, tt.url)
			t.Setenv("TOUSU_TEST_SMTP_CUSTOMER", tt.customer)
			t.Setenv("TOUSU_TEST_SMTP_SUPPORT", tt.support)
			t.Setenv("TOUSU_TEST_IMAP_CUSTOMER", tt.mailbox)
			f := &fakeTB{}
			m := RequireMTA(f)
			check(t, "skip", f.skipped, tt.skip)
			check(t, "failure", f.failed, tt.fail)
			if tt.skip == "" && tt.fail == "" && (m.URL != tt.url || m.Unknown() != "wu.ren.zai@customer.test") {
				t.Errorf("RequireMTA = %+v", m)
			}
		})
	}
}
