package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tousu/tousu/configs"
	"github.com/tousu/tousu/internal/polltest"
	"github.com/tousu/tousu/internal/proctest"
	"github.com/tousu/tousu/internal/servertest"
	"github.com/tousu/tousu/services/app"
)

const testToken = "test-admin-token-0123456789"

// testSecret is the server secret every replica of a test installation
// shares.
const testSecret = "test-server-secret-0123456789abcdef"

func TestValidateCommand(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(good, []byte("data_dir: /tmp/x\nbus:\n  brokers: [127.0.0.1:9092]\nsecurity:\n  secret: "+testSecret+"\n"), 0o600)
	noSecret := filepath.Join(dir, "no-secret.yaml")
	os.WriteFile(noSecret, []byte("data_dir: /tmp/x\nbus:\n  brokers: [127.0.0.1:9092]\n"), 0o600)
	os.WriteFile(bad, []byte("webhook:\n  sources:\n    acme:\n      secrt: x\n"), 0o600)
	badPack := filepath.Join(dir, "pack.yaml")
	os.WriteFile(badPack, []byte("name: x\nclokcs: []\n"), 0o600)
	tests := []struct {
		args     []string
		code     int
		contains string
	}{
		{[]string{"validate", "-config", good}, 0, "ok"},
		{[]string{"validate", "-config", bad}, 1, `unknown key "webhook.sources.acme.secrt"`},
		{[]string{"validate", "-config", noSecret}, 1, "security.secret: not set"},
		{[]string{"validate", "-config", noSecret, "-target", "router"}, 0, "ok"},
		{[]string{"validate"}, 0, "the built-in defaults with the environment: ok"},
		{[]string{"validate", filepath.Join("..", "..", "configs", "policies", "hotel.yaml"), "-config", good}, 0, good + ": ok"},
		{[]string{"validate", filepath.Join("..", "..", "configs", "embedded.yaml")}, 2, "is a configuration, not a policy pack: did you mean tousu validate -config ../../configs/embedded.yaml?"},
		{[]string{"validate", filepath.Join("..", "..", "configs", "policies", "hotel.yaml")}, 0, "hotel.yaml: ok"},
		{[]string{"validate", "-config", good, badPack}, 1, "unknown key"},
		{[]string{"validate", "-config", filepath.Join(dir, "missing.yaml")}, 1, "no such file"},
		{[]string{"serve", "-target", "mailer"}, 1, `unknown target "mailer"`},
		{[]string{"frobnicate"}, 2, "unknown command"},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		code := run(tt.args, nil, &out, &errOut)
		if code != tt.code || !strings.Contains(out.String()+errOut.String(), tt.contains) {
			t.Errorf("tousu %v = %d, %q %q; want %d and %q", tt.args, code, out.String(), errOut.String(), tt.code, tt.contains)
		}
	}
}

// TestValidatePrint: validate -print writes the effective configuration
// (file, environment and defaults) as YAML that decodes back as a
// configuration, with no secret in it, whether inline, in a file or in
// the environment.
func TestValidatePrint(t *testing.T) {
	dir := t.TempDir()
	secrets := map[string]string{
		"inline token":  "inline-admin-token-0123456789",
		"token file":    "file-kiosk-token-0123456789",
		"webhook file":  "file-webhook-secret-0123456789",
		"es password":   "inline-es-password-0123456789",
		"server env":    "env-server-secret-0123456789abcdef0123",
		"webhook env":   "env-webhook-secret-0123456789",
		"csrf env":      "env-csrf-secret-0123456789abcdef0123456",
		"alert env":     "env-alert-secret-0123456789",
		"alert URL":     "URLTOKEN0123456789",
		"bootstrap env": "env-bootstrap-token-0123456789",
		"imap password": "imap-url-password-0123456789",
		"imap file":     "imap-inline-password-0123456789",
	}
	os.WriteFile(filepath.Join(dir, "kiosk-token"), []byte(secrets["token file"]+"\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "acme"), []byte(secrets["webhook file"]+"\n"), 0o600)
	config := filepath.Join(dir, "tousu.yaml")
	os.WriteFile(config, []byte(`
data_dir: /srv/tousu
auth:
  tokens:
    - {name: boss, token: `+secrets["inline token"]+`, role: admin}
    - {name: kiosk, token_file: kiosk-token, role: intake}
webhook:
  sources:
    acme: {secret_file: acme}
alerts:
  webhooks:
    - {name: quality, url: "https://hooks.example.com/robot/send?access_token=`+secrets["alert URL"]+`", secret_env: TEST_ALERT_SECRET}
imap:
  mailboxes:
    - {name: support, host: imap.example.com, auth: {username: support, password: `+secrets["imap file"]+`}}
index:
  backend: elasticsearch
  elasticsearch: {urls: ["http://127.0.0.1:9200"], username: tousu, password: `+secrets["es password"]+`}
`), 0o600)
	environ := []string{
		"TOUSU_SECRET=" + secrets["server env"],
		"TOUSU_WEBHOOK_SECRET_PARTNER=" + secrets["webhook env"],
		"TOUSU_WEBFORM_CSRF_SECRET=" + secrets["csrf env"],
		"TOUSU_BOOTSTRAP_TOKEN=" + secrets["bootstrap env"],
		"TOUSU_IMAP_SALES=imaps://sales:" + secrets["imap password"] + "@imap.example.com/INBOX",
		"TEST_ALERT_SECRET=" + secrets["alert env"],
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"validate", "-print", "-config", config}, environ, &out, &errOut); code != 0 {
		t.Fatalf("validate -print = %d: %s", code, errOut.String())
	}
	for name, value := range secrets {
		if strings.Contains(out.String(), value) {
			t.Errorf("the %s shows in the output:\n%s", name, out.String())
		}
	}
	var printed app.Config
	if err := configs.DecodeStrict(out.Bytes(), &printed); err != nil {
		t.Fatalf("the output does not decode as a configuration: %v\n%s", err, out.String())
	}
	if printed.DataDir != "/srv/tousu" || printed.Index.Bleve.Path != "/srv/tousu/index" || printed.HTTP.Listen != "127.0.0.1:8080" ||
		printed.Escalator.Interval != 5*time.Second || printed.IMAP.Mailboxes[1].Port != 993 {
		t.Errorf("defaults missing from the output: %+v", printed)
	}
	if tok := printed.Auth.Tokens[1].Token; tok.File != "kiosk-token" || tok.String() != "file kiosk-token" {
		t.Errorf("token file = %+v, want its name", tok)
	}
	if s := printed.Security.Secret; s.Env != "TOUSU_SECRET" || s.Reveal() != "" {
		t.Errorf("server secret = %+v, want the variable's name", s)
	}
	if !strings.Contains(out.String(), "[redacted]") || !strings.Contains(errOut.String(), config+": ok") {
		t.Errorf("output %q, %q", out.String(), errOut.String())
	}
}

// TestCommandLine runs the commands a newcomer tries first: each answers
// -help (anywhere) with its own flags and examples, mistakes get exit code
// 2 and a message that says what to do.
func TestCommandLine(t *testing.T) {
	configs := filepath.Join("..", "..", "configs")
	builtins := "builtin:automotive, builtin:construction, builtin:hotel, builtin:insurance, builtin:manufacturing, builtin:property, builtin:telecom"
	complaint := "我的手机信号差了三天，打电话总是断线，要求尽快处理"
	t.Cleanup(func() { stdin = os.Stdin })
	tests := []struct {
		args     []string
		stdin    string
		code     int
		want     []string // in stdout and stderr
		unwanted []string
	}{
		{args: []string{"validate", "--help"}, want: []string{"tousu validate [-config FILE] [-target LIST] [POLICY_PACK ...]", "-config FILE", "tousu validate -config configs/distributed.yaml", "Exit codes: 0 done, 1 failed, 2 called wrongly"}, unwanted: []string{"-broker-listen", "-http"}},
		{args: []string{"topics", "apply", "--help"}, want: []string{"tousu topics apply [-config FILE]", "TOUSU_KAFKA_BROKERS=127.0.0.1:9092 tousu topics apply"}, unwanted: []string{"-broker-listen", "-target"}},
		{args: []string{"serve", "-h"}, want: []string{"-broker-listen ADDR", "-target LIST", "Targets (-target):\n  all ", "\n  poller      reads the IMAP mailboxes", "\n  escalator   the escalation clock", "\n  batcher     batch detection", "\n  alerts      delivers the alerts topic"}},
		{args: []string{"help"}, want: []string{"Targets: all (default), broker, gateway, poller, normalizer, router, indexer, escalator, batcher, alerts, sender, console."}},
		{args: []string{"policy", "--help"}, want: []string{"tousu policy test [-model DIR] PACK_OR_GOLDEN_FILE", "tousu policy explain -pack PACK"}, unwanted: []string{"unknown subcommand"}},
		{args: []string{"policy", "explain", "-pack", "builtin:telecom", "--help"}, want: []string{"-received TIME", "2026-09-30 10:00", "-jsonl < complaints.jsonl"}},
		{args: []string{"help", "policy", "test"}, want: []string{"tousu policy test configs/policies/telecom.yaml"}},
		{args: []string{"help"}, want: []string{"tousu version", "Exit codes"}},
		{args: []string{"version"}, want: []string{"tousu ", "go:     " + runtime.Version()}},
		{args: []string{"--version"}, want: []string{"go:     " + runtime.Version()}},
		{args: nil, code: 2, want: []string{"tousu serve"}},
		{args: []string{"policy"}, code: 2, want: []string{"tousu policy test"}},
		{args: []string{"policy", "frobnicate"}, code: 2, want: []string{`unknown subcommand "frobnicate"`}},
		{args: []string{"validate", "-cofnig", "x.yaml"}, code: 2, want: []string{"-cofnig", "`tousu validate -help` shows its flags"}},
		// -target mailer makes a serve that ignored its argument fail at once instead of serving.
		{args: []string{"serve", "-target", "mailer", filepath.Join(configs, "distributed.yaml")}, code: 2, want: []string{"did you mean tousu serve -config ../../configs/distributed.yaml?"}},
		{args: []string{"topics", "apply", "configs/distributed.yml"}, code: 2, want: []string{"did you mean tousu topics apply -config configs/distributed.yml?"}},
		{args: []string{"index", "apply", "--help"}, want: []string{"tousu index apply [-config FILE]", "tousu index apply -config configs/distributed.yaml"}, unwanted: []string{"-target"}},
		{args: []string{"index", "apply"}, code: 2, want: []string{"the index is bleve, which creates itself at start; set index.backend: elasticsearch or TOUSU_ELASTICSEARCH_URLS"}},
		{args: []string{"version", "now"}, code: 2, want: []string{`unexpected argument "now"`}},
		{args: []string{"policy", "test"}, code: 2, want: []string{"e.g. tousu policy test configs/policies/telecom.yaml"}},
		{args: []string{"policy", "test", "telecom"}, code: 1, want: []string{"no such file", "e.g. configs/policies/telecom.yaml"}},
		{args: []string{"policy", "explain", "-pack", "telecom"}, stdin: complaint, code: 1, want: []string{"did you mean builtin:telecom"}},
		{args: []string{"policy", "explain", "-pack", "builtin:telcom"}, stdin: complaint, code: 1, want: []string{"builtin:telcom: no such built-in pack; the built-in packs are " + builtins}},
		{args: []string{"policy", "explain", "-pack", "policies/telecom.yml"}, stdin: complaint, code: 1, want: []string{"a pack built into tousu is named builtin:NAME, one of " + builtins}},
		{args: []string{"policy", "explain"}, stdin: complaint, code: 2, want: []string{"-pack is required: a pack file, or builtin:NAME for one of " + builtins}},
		{args: []string{"policy", "explain", "-pack", "builtin:telecom", complaint}, code: 2, want: []string{"read from standard input"}},
		{args: []string{"policy", "explain", "-pack", "builtin:telecom", "-received", "2026-09-30"}, stdin: complaint, want: []string{`"received_at": "2026-09-30T00:00:00+08:00"`}},
		{args: []string{"policy", "explain", "-pack", "builtin:telecom", "-received", "２０２６－１０－０８　９：３０"}, stdin: complaint, want: []string{`"received_at": "2026-10-08T09:30:00+08:00"`}},
		{args: []string{"policy", "explain", "-received", " 2026/9/30 10:00 ", "-pack", "builtin:telecom"}, stdin: complaint, want: []string{`"received_at": "2026-09-30T10:00:00+08:00"`}},
		{args: []string{"policy", "explain", "-pack", "builtin:telecom", "-received", "2026-09-31"}, stdin: complaint, code: 2, want: []string{`-received "2026-09-31" is not a time; give e.g. 2026-09-30T10:00:00+08:00 (RFC 3339), 2026-09-30 10:00`}},
		{args: []string{"policy", "explain", "-pack", "builtin:telecom", "-received", "30/09/2026"}, stdin: complaint, code: 2, want: []string{"Beijing time unless a zone is given"}},
	}
	for _, tt := range tests {
		stdin = strings.NewReader(tt.stdin)
		var out, errOut bytes.Buffer
		code := run(tt.args, nil, &out, &errOut)
		all := out.String() + errOut.String()
		if code != tt.code {
			t.Errorf("tousu %q = %d, want %d: %s", tt.args, code, tt.code, all)
		}
		for _, w := range tt.want {
			if !strings.Contains(all, w) {
				t.Errorf("tousu %q: %q, want %q in it", tt.args, all, w)
			}
		}
		for _, w := range tt.unwanted {
			if strings.Contains(all, w) {
				t.Errorf("tousu %q: %q, want no %q in it", tt.args, all, w)
			}
		}
		if tt.code == 0 && errOut.Len() > 0 {
			t.Errorf("tousu %q succeeded with %q on stderr", tt.args, errOut.String())
		}
	}
}

func TestVersionText(t *testing.T) {
	stamped := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "GOOS", Value: "linux"}, {Key: "GOARCH", Value: "arm64"},
		{Key: "vcs.revision", Value: "47af6dd0c0ffee"}, {Key: "vcs.time", Value: "2026-12-06T14:16:45Z"}, {Key: "vcs.modified", Value: "true"},
	}}
	installed := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.11.0"}}
	tests := []struct {
		name, version, built string
		bi                   *debug.BuildInfo
		want                 string
	}{
		{"release build", "v0.11.0", "2026-12-06T15:00:00Z", stamped,
			"tousu v0.11.0\ncommit: 47af6dd0c0ffee (2026-12-06T14:16:45Z) with uncommitted changes\ngo:     go1.26.8 linux/arm64\nbuilt:  2026-12-06T15:00:00Z\n"},
		{"go build in a checkout", "", "", stamped,
			"tousu (development build)\ncommit: 47af6dd0c0ffee (2026-12-06T14:16:45Z) with uncommitted changes\ngo:     go1.26.8 linux/arm64\nbuilt:  unknown\n"},
		{"go install of a tagged module", "", "", installed,
			"tousu v0.11.0\ncommit: unknown\ngo:     go1.26.8 " + runtime.GOOS + "/" + runtime.GOARCH + "\nbuilt:  unknown\n"},
		{"no build information", "", "", nil,
			"tousu (development build)\ncommit: unknown\ngo:     " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + "\nbuilt:  unknown\n"},
	}
	for _, tt := range tests {
		if got := versionText(tt.version, tt.built, tt.bi); got != tt.want {
			t.Errorf("%s:\n%s\nwant\n%s", tt.name, got, tt.want)
		}
	}
}

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// tousuBinary builds the binary once per test run.
func tousuBinary(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tousu-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "tousu")
		out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return binary
}

// proc is a tousu process started by a test.
type proc struct {
	cmd    *exec.Cmd
	http   string // base URL
	broker string // embedded broker address, if it runs one
	stderr *bytes.Buffer
}

// startProc runs `tousu serve args...` and waits for it to print its
// addresses.
func startProc(tb testing.TB, env []string, args ...string) *proc {
	tb.Helper()
	p, err := spawnProc(tb, tousuBinary(tb), env, args...)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// spawnProc is startProc for any goroutine: it returns its failure
// instead of failing the test.
func spawnProc(tb testing.TB, binary string, env []string, args ...string) (*proc, error) {
	p, err := proctest.Spawn(tb, binary, env, args...)
	if err != nil {
		return nil, err
	}
	return &proc{cmd: p.Cmd, http: p.Base, broker: p.Broker, stderr: p.Stderr}, nil
}

// kill ends the process at once, as a crash would.
func (p *proc) kill(tb testing.TB) {
	tb.Helper()
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
}

func (p *proc) request(tb testing.TB, method, path, body string, out any) int {
	tb.Helper()
	req, err := http.NewRequest(method, p.http+path, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			tb.Fatalf("%s %s: %d %q", method, path, resp.StatusCode, b)
		}
	}
	return resp.StatusCode
}

func (p *proc) submit(tb testing.TB, description string) string {
	tb.Helper()
	return p.submitFrom(tb, "13800138000", description)
}

// submitFrom submits a complaint from the customer with the given phone.
func (p *proc) submitFrom(tb testing.TB, phone, description string) string {
	tb.Helper()
	var out struct{ Reference string }
	body, _ := json.Marshal(map[string]string{"phone": phone, "description": description})
	if code := p.request(tb, http.MethodPost, "/api/v1/complaints", string(body), &out); code != http.StatusAccepted {
		tb.Fatalf("submit: %d", code)
	}
	return out.Reference
}

type searchResult struct {
	Total int
	Hits  []struct {
		ID         string
		References []string
	}
}

// pipelineBound bounds how long the tests wait for the pipeline to
// deliver, a cold broker's first consumer-group joins included. It catches
// a pipeline that never delivers; it is not a speed assertion.
const pipelineBound = 2 * time.Minute

// waitFor polls the console until the exact phrase q has want hits, within
// pipelineBound. Unquoted, a search tolerates a missing word, and on a
// shared broker other runs' cases carry all but the run's number.
func (p *proc) waitFor(tb testing.TB, q string, want int) searchResult {
	tb.Helper()
	var res searchResult
	if !polltest.Within(pipelineBound, func() bool {
		res = searchResult{}
		p.request(tb, http.MethodGet, "/api/v1/cases?limit=200&q="+url.QueryEscape(strconv.Quote(q)), "", &res)
		return res.Total == want
	}) {
		tb.Fatalf("q=%s: %d hits, want %d", q, res.Total, want)
	}
	return res
}

// TestSeparateTargets runs every component as its own process, cooperating
// through the embedded broker of a third process.
func TestSeparateTargets(t *testing.T) {
	root := t.TempDir()
	broker := startProc(t, nil, "-target", "broker", "-broker-listen", "127.0.0.1:0", "-data", filepath.Join(root, "broker"))
	env := []string{"TOUSU_KAFKA_BROKERS=" + broker.broker, "TOUSU_BOOTSTRAP_TOKEN=" + testToken, "TOUSU_SECRET=" + testSecret}
	gateway := startProc(t, env, "-target", "gateway", "-data", filepath.Join(root, "gateway"))
	startProc(t, env, "-target", "normalizer", "-data", filepath.Join(root, "normalizer"))
	startProc(t, env, "-target", "router", "-data", filepath.Join(root, "router"))
	console := startProc(t, env, "-target", "indexer,console", "-data", filepath.Join(root, "indexer"))

	ref := gateway.submit(t, "分布式部署：手机信号差了三天")
	res := console.waitFor(t, "信号差", 1)
	if res.Hits[0].ID != ref {
		t.Errorf("hit %+v, want %s", res.Hits[0], ref)
	}
	if code := gateway.request(t, http.MethodGet, "/api/v1/cases", "", nil); code != http.StatusNotFound && code != http.StatusMethodNotAllowed {
		t.Errorf("gateway serves the console API: %d", code)
	}
	// Ready once every check answers within /readyz's time (a loaded
	// machine may need a second look).
	var ready struct{ Ready bool }
	var code int
	if !polltest.Within(polltest.Patience, func() bool {
		code = console.request(t, http.MethodGet, "/readyz", "", &ready)
		return code == http.StatusOK && ready.Ready
	}) {
		t.Errorf("console /readyz: %d %+v", code, ready)
	}
	// The gateway runs no consumer, yet its lag view shows every group of
	// the pipeline with the consumers the other processes attached.
	var lag struct {
		Groups []struct {
			Group   string
			Members int
		}
	}
	if code := gateway.request(t, http.MethodGet, "/api/v1/ops/lag", "", &lag); code != http.StatusOK {
		t.Fatalf("gateway lag view: %d", code)
	}
	members := map[string]int{}
	for _, g := range lag.Groups {
		members[g.Group] = g.Members
	}
	want := map[string]int{"tousu-normalizer": 1, "tousu-router": 1, "tousu-indexer": 1, "tousu-escalator": 0, "tousu-batcher": 0, "tousu-alerts": 0, "tousu-sender": 0}
	if !maps.Equal(members, want) {
		t.Errorf("gateway lag view members = %v, want %v", members, want)
	}
}

// TestKillAfterReceiptsLosesNothing kills tousu (SIGKILL) right after the
// last receipt and restarts it on the same data directory: every complaint
// is indexed exactly once.
func TestKillAfterReceiptsLosesNothing(t *testing.T) {
	dir := t.TempDir()
	env := []string{"TOUSU_BOOTSTRAP_TOKEN=" + testToken}
	p := startProc(t, env, "-data", dir)
	const n = 40
	refs := submitMany(t, p, n, func(i int) string { return fmt.Sprintf("139%08d", i) }, func(i int) string { return fmt.Sprintf("断电测试 第%d条 话费多扣", i) }, nil)
	p.kill(t)

	p = startProc(t, env, "-data", dir)
	checkEachOnce(t, p.waitFor(t, "断电测试", n), refs)
}

// TestFormSurvivesRestart: a form rendered before a restart is accepted
// after it: its CSRF token is signed with a key derived from the server
// secret in the data directory, not with a random key of the process.
func TestFormSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	env := []string{"TOUSU_BOOTSTRAP_TOKEN=" + testToken}
	p := startProc(t, env, "-data", dir)
	client, form := openForm(t, p.http)
	p.kill(t)
	p = startProc(t, env, "-data", dir)
	postForm(t, client, p.http, form, "13700137000", "话费多扣了二十元，客服说月底退还")
	p.waitFor(t, "话费多扣了二十元", 1)
}

func TestTopicsApplyCommand(t *testing.T) {
	broker := startProc(t, nil, "-target", "broker", "-broker-listen", "127.0.0.1:0", "-data", t.TempDir())
	env := []string{"TOUSU_KAFKA_BROKERS=" + broker.broker}
	for i, want := range []string{"created", "ok"} {
		var out, errOut bytes.Buffer
		if code := run([]string{"topics", "apply"}, env, &out, &errOut); code != 0 {
			t.Fatalf("run %d: exit %d: %s", i, code, errOut.String())
		}
		for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			if f := strings.Fields(line); len(f) < 2 || f[1] != want {
				t.Errorf("run %d: %q, want %s", i, line, want)
			}
		}
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"topics", "apply"}, nil, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "no Kafka brokers") {
		t.Errorf("without brokers: %d %s", code, errOut.String())
	}
}

// TestIndexApplyCommand runs `tousu index apply` twice on the real
// Elasticsearch: the first creates the template, the versioned index and
// its alias, the second finds them; the alias then answers on the node.
func TestIndexApplyCommand(t *testing.T) {
	es := servertest.Require(t, servertest.ES)
	prefix := fmt.Sprintf("tousu-apply-%d", time.Now().UnixNano())
	t.Cleanup(func() { dropIndex(t, es, prefix) })
	cfg := filepath.Join(t.TempDir(), "tousu.yaml")
	yaml := fmt.Sprintf("index:\n  backend: elasticsearch\n  elasticsearch:\n    urls: [%s]\n    index_prefix: %s\n    number_of_replicas: 0\n", es, prefix)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		var out, errOut bytes.Buffer
		if code := run([]string{"index", "apply", "-config", cfg}, nil, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "alias "+prefix+" → index "+prefix+"-v") {
			t.Fatalf("run %d: exit %d: %s %s", i, code, out.String(), errOut.String())
		}
	}
	resp, err := http.Get(es + "/_alias/" + prefix)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /_alias/%s: %d, want the alias index apply made", prefix, resp.StatusCode)
	}
}

func TestPolicyCommands(t *testing.T) {
	root := filepath.Join("..", "..", "configs", "policies")
	var out, errOut bytes.Buffer
	if code := run([]string{"policy", "test", filepath.Join(root, "telecom.yaml")}, nil, &out, &errOut); code != 0 || !strings.Contains(out.String(), " 0 failed") {
		t.Errorf("policy test: %d %s %s", code, out.String(), errOut.String())
	}

	stdin = strings.NewReader("我的手机信号差了三天，打电话总是断线，要求尽快处理")
	t.Cleanup(func() { stdin = os.Stdin })
	out.Reset()
	code := run([]string{"policy", "explain", "-pack", "builtin:telecom", "-received", "2026-09-30T10:00:00+08:00"}, nil, &out, &errOut)
	var v struct {
		ContactType string `json:"contact_type"`
		Category    string
	}
	if err := json.Unmarshal(out.Bytes(), &v); code != 0 || err != nil || v.ContactType == "" || v.Category == "" {
		t.Errorf("policy explain: %d %v %s %s", code, err, out.String(), errOut.String())
	}

	stdin = strings.NewReader(`{"text":"话费多扣了30元","received":"2026-02-13T09:00:00+08:00","channel":"api"}` + "\n" +
		`{"text":"宽带断网","received":"2026-10-01T09:00:00+08:00","channel":"email"}` + "\n")
	out.Reset()
	if code := run([]string{"policy", "explain", "-pack", "builtin:telecom", "-jsonl"}, nil, &out, &errOut); code != 0 || strings.Count(out.String(), "\n") != 2 {
		t.Errorf("policy explain -jsonl: %d %q %s", code, out.String(), errOut.String())
	}
	if code := run([]string{"policy", "explain"}, nil, &out, &errOut); code != 2 {
		t.Errorf("explain without -pack: %d", code)
	}
}

// submitMany submits n complaints concurrently through p's JSON API, each
// from a customer of its own (one customer's near-identical complaints
// would rightly become one case), and returns their references; during,
// when set, runs once a third of them were started.
func submitMany(tb testing.TB, p *proc, n int, phone, text func(i int) string, during func()) []string {
	tb.Helper()
	refs := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			refs[i] = p.submitFrom(tb, phone(i), text(i))
		}()
		if i == n/3 && during != nil {
			during()
		}
	}
	wg.Wait()
	return refs
}

// checkEachOnce fails unless every reference is the id of exactly one hit.
func checkEachOnce(tb testing.TB, res searchResult, refs []string) {
	tb.Helper()
	seen := map[string]int{}
	for _, h := range res.Hits {
		seen[h.ID]++
	}
	for _, ref := range refs {
		if seen[ref] != 1 {
			tb.Errorf("case %s indexed %d times", ref, seen[ref])
		}
	}
}

// FuzzParse feeds arbitrary argument lists to the flag parsing every
// command shares: it ends, and the arguments it returns are among those it
// was given, in their order.
func FuzzParse(f *testing.F) {
	f.Add("-pack\x00builtin:telecom\x00-received\x002026-09-30 10:00\x00extra")
	f.Add("a.yaml\x00-config\x00b.yaml\x00--\x00-jsonl\x00help")
	f.Add("-received=２０２６－０９－３０\x00-jsonl=false\x00--\x00--")
	f.Fuzz(func(t *testing.T, joined string) {
		args := strings.Split(joined, "\x00")
		c := find("policy explain")
		fl := c.flags(io.Discard)
		c.define(c, fl)
		rest, code, done := c.parse(fl, args, io.Discard)
		if done {
			if code != exitOK && code != exitUsage {
				t.Fatalf("parse %q: done with %d", args, code)
			}
			return
		}
		i := 0
		for _, r := range rest {
			for i < len(args) && args[i] != r {
				i++
			}
			if i == len(args) {
				t.Fatalf("parse %q returned %q, not among its arguments in order", args, rest)
			}
			i++
		}
	})
}
