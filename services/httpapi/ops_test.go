package httpapi

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// TestOpsLag: the lag view tells supervisors and admins, per group, the
// consumers attached (0 too) and the lag per partition; agents may not see
// it.
func TestOpsLag(t *testing.T) {
	s := New(Config{}, zap.NewNop(), prometheus.NewRegistry(), NewAuthenticator(tokens))
	lag := func(context.Context) []GroupLag {
		return []GroupLag{
			{Group: "tousu-indexer", Topic: "cases", Members: 2, Partitions: map[int]int64{0: 3, 1: 0}, Total: 3},
			{Group: "tousu-router", Topic: "complaints.normalized", Members: 0, Partitions: map[int]int64{0: 7}, Total: 7},
			{Group: "tousu-batcher", Topic: "cases", Error: "unknown topic"},
		}
	}
	MountOps(s.App(), NewAuthenticator(tokens), lag, zap.NewNop())
	tests := []struct {
		name, token string
		code        int
		contains    []string
	}{
		{"admin", "admin-token-0123456789", 200, []string{
			`{"group":"tousu-indexer","topic":"cases","members":2,"partitions":{"0":3,"1":0},"total":3}`,
			`{"group":"tousu-router","topic":"complaints.normalized","members":0,"partitions":{"0":7},"total":7}`,
			`"members":0,"partitions":null,"total":0,"error":"unknown topic"`,
		}},
		{"agent", "agent-token-0123456789", 403, []string{"may not"}},
		{"no token", "", 401, []string{"bearer token"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(t, s, "/api/v1/ops/lag", tc.token)
			if code != tc.code {
				t.Fatalf("GET /api/v1/ops/lag = %d %s, want %d", code, body, tc.code)
			}
			for _, want := range tc.contains {
				if !strings.Contains(body, want) {
					t.Errorf("body %s\nlacks %s", body, want)
				}
			}
		})
	}
}
