package httpapi

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/internal/secret"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/services/ops"
)

// opsTokens are the tokens of the ops tests: the usual ones and an ops
// account's.
var opsTokens = AuthConfig{Tokens: append([]Token{
	{Name: "yunwei.qian", Token: secret.Inline("ops-token-0123456789"), Role: RoleOps},
}, tokens.Tokens...)}

// opsServer is a server with the ops API over lag, history and d.
func opsServer(tb testing.TB, lag LagSource, history *ops.History, d *ops.Deployment, now time.Time) *Server {
	tb.Helper()
	auth := NewAuthenticator(opsTokens)
	s := New(Config{}, zap.NewNop(), prometheus.NewRegistry(), auth)
	MountOps(s.App(), auth, OpsDeps{Lag: lag, History: history, Deployment: d, Now: func() time.Time { return now }}, zap.NewNop())
	return s
}

// TestOpsLag: the lag view tells admins, supervisors and ops, per group,
// the consumers attached (0 too) and the lag per partition, with the
// rates against the console's last sample and its oldest unprocessed
// record; agents may not see it.
func TestOpsLag(t *testing.T) {
	at := time.Date(2026, 3, 9, 10, 0, 0, 0, time.UTC)
	oldest := time.Date(2026, 3, 9, 9, 58, 30, 0, time.UTC)
	lag := func(context.Context) []ops.GroupLag {
		return []ops.GroupLag{
			{Group: "tousu-indexer", Topic: "cases", Members: 2, Partitions: map[int]int64{0: 3, 1: 0}, Total: 3,
				Details: []ops.PartitionLag{{Partition: 0, Lag: 3, End: 130, Oldest: oldest}, {Partition: 1, End: 90}}, Oldest: oldest},
			{Group: "tousu-router", Topic: "complaints.normalized", Members: 0, Partitions: map[int]int64{0: 7}, Total: 7},
			{Group: "tousu-batcher", Topic: "cases", Error: "unknown topic"},
		}
	}
	history := ops.NewHistory(4)
	// 15 s before: the indexer had read 100+80 of 100+80.
	history.Add(ops.Sample{At: at.Add(-15 * time.Second), Groups: []ops.GroupLag{{Group: "tousu-indexer", Topic: "cases",
		Details: []ops.PartitionLag{{Partition: 0, End: 100}, {Partition: 1, End: 80}}}}})
	s := opsServer(t, lag, history, nil, at)
	tests := []opsGet{
		{"admin", "/api/v1/ops/lag", "admin-token-0123456789", 200, []string{
			`{"group":"tousu-indexer","topic":"cases","members":2,"partitions":{"0":3,"1":0},"total":3,`,
			// (130+90-180) written and (127+90-180) read in 15 s.
			`"in_per_sec":2.6666666666666665,"out_per_sec":2.466666666666667,"oldest":"2026-03-09T09:58:30Z"`,
			`{"group":"tousu-router","topic":"complaints.normalized","members":0,"partitions":{"0":7},"total":7}`,
			`"members":0,"partitions":null,"total":0,"error":"unknown topic"`,
		}},
		{"ops with history", "/api/v1/ops/lag?history=1", "ops-token-0123456789", 200, []string{`"history":[{"at":"2026-03-09T09:59:45Z"`}},
		{"supervisor", "/api/v1/ops/lag", "supervisor-token-0123456789", 200, []string{`"tousu-router"`}},
		{"agent", "/api/v1/ops/lag", "agent-token-0123456789", 403, []string{"may not"}},
		{"no token", "/api/v1/ops/lag", "", 401, []string{"bearer token"}},
		{"no deployment here", PathOpsChannels, "admin-token-0123456789", 404, nil},
	}
	checkGets(t, s, tests)
}

// opsGet is a GET of the ops tests: by whom, and what it answers.
type opsGet struct {
	name, path, token string
	code              int
	contains          []string
}

// checkGets sends each GET and checks its status and body.
func checkGets(t *testing.T, s *Server, tests []opsGet) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(t, s, tc.path, tc.token)
			if code != tc.code {
				t.Fatalf("GET %s = %d %s, want %d", tc.path, code, body, tc.code)
			}
			for _, want := range tc.contains {
				if !strings.Contains(body, want) {
					t.Errorf("body %s\nlacks %s", body, want)
				}
			}
		})
	}
}

// beat is a beat of a process of the ops tests.
func beat(tb testing.TB, b ops.Beat) bus.Message {
	tb.Helper()
	b.V = ops.BeatVersion
	v, err := json.Marshal(b)
	if err != nil {
		tb.Fatal(err)
	}
	return bus.Message{Topic: bus.TopicHeartbeat, Key: []byte(b.Process), Value: v}
}

// TestOpsChannelsAndProcesses: ops and admins see every process of the
// deployment (a lost one too, marked) and the channels their beats carry;
// supervisors and agents may not.
func TestOpsChannelsAndProcesses(t *testing.T) {
	now := time.Date(2026, 3, 9, 10, 0, 0, 0, time.UTC)
	d := ops.NewDeployment()
	for _, b := range []ops.Beat{
		{Process: "gw-1/41/a", Host: "gw-1", Targets: []string{"gateway", "poller"}, Version: "v1.4.2", At: now.Add(-5 * time.Second), Every: 10 * time.Second,
			Channels: []ops.ChannelHealth{
				{Kind: ingest.ChannelEmail, Name: "kefu-163", Hour: 4, Day: 57, LastSuccess: now.Add(-time.Minute), Quarantined: 2},
				{Kind: ingest.ChannelHotline, Name: "rexian-12315", Day: 12, Silent: true, LastError: "文件编码无法识别"},
			}},
		{Process: "idx-2/7/b", Host: "idx-2", Targets: []string{"indexer"}, Version: "v1.4.1", At: now.Add(-31 * time.Second), Every: 10 * time.Second},
	} {
		if err := d.Follow(context.Background(), beat(t, b)); err != nil {
			t.Fatal(err)
		}
	}
	s := opsServer(t, func(context.Context) []ops.GroupLag { return nil }, nil, d, now)
	tests := []opsGet{
		{"ops channels", PathOpsChannels, "ops-token-0123456789", 200, []string{
			`"kind":"email","name":"kefu-163","last_success":"2026-03-09T09:59:00Z","hour":4,"day":57,"errors":0,"quarantined":2,"silent":false,"process":"gw-1/41/a","lost":false`,
			`"kind":"hotline","name":"rexian-12315","hour":0,"day":12,"errors":0,"last_error":"文件编码无法识别","quarantined":0,"silent":true`,
		}},
		{"admin processes", PathOpsProcesses, "admin-token-0123456789", 200, []string{
			`"process":"gw-1/41/a","host":"gw-1","pid":0,"targets":["gateway","poller"],"version":"v1.4.2"`,
			`"process":"idx-2/7/b","host":"idx-2","pid":0,"targets":["indexer"],"version":"v1.4.1","started":"0001-01-01T00:00:00Z","at":"2026-03-09T09:59:29Z","every":10000000000,"lost":true`,
		}},
		{"supervisor", PathOpsChannels, "supervisor-token-0123456789", 403, nil},
		{"agent", PathOpsProcesses, "agent-token-0123456789", 403, nil},
		{"no token", PathOpsProcesses, "", 401, nil},
	}
	checkGets(t, s, tests)
}
