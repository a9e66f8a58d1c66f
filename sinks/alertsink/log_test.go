package alertsink

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/tousu/tousu/router"
)

// jsonLogger returns a debug-level JSON logger writing to the buffer; read
// the buffer only when no Deliver is running.
func jsonLogger(buf *bytes.Buffer) *zap.Logger {
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	return zap.New(zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(buf)), zapcore.DebugLevel))
}

func TestLogSink(t *testing.T) {
	urge := router.Notice{
		V: router.NoticeVersion, ID: "urge:TS9:C2", Kind: router.NoticeUrge, At: t0, Case: "TS9", Reference: "R-2025-0002",
		Urgency: 2, Route: router.Route{Department: "客服部"}, Category: "资费",
		Excerpt: "张三 13812345678 又来投诉了，身份证110101199003071234", Reason: "same customer complains again",
	}
	batch := router.Notice{
		V: router.NoticeVersion, ID: "batch:PL1", Kind: router.NoticeBatch, At: t0, Batch: "PL1", Cases: []string{"TS1", "TS2", "TS3"},
		Customers: 3, Excerpt: "小区停电，联系电话 +86 139 0000 1111", Reason: "3 customers",
	}
	reply := urge
	reply.Reason = "an e-mail from li.si@example.com, not the case's customer"
	tests := []struct {
		name string
		n    router.Notice
		want map[string]any // fields the line must have
	}{
		{"escalation", escalation(), map[string]any{
			"kind": "escalation", "id": "esc:TS1:reply:breach", "case": "TS1", "alert_level": 2.0, "step": "breach", "clock": "reply",
			"notify": []any{"部门负责人", "质量总监"}, "route": map[string]any{"department": "客服部", "queue": "complaints", "owner": "agent7"},
		}},
		{"urge", urge, map[string]any{"kind": "urge", "id": "urge:TS9:C2", "case": "TS9", "urgency": 2.0, "reference": "R-2025-0002"}},
		{"batch", batch, map[string]any{"kind": "batch", "id": "batch:PL1", "batch": "PL1", "cases": 3.0, "customers": 3.0}},
		{"reply from another address", reply, map[string]any{"kind": "urge", "reason": "an e-mail from l***@example.com, not the case's customer"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := NewLog(jsonLogger(&buf)).Deliver(context.Background(), tt.n); err != nil {
				t.Fatal(err)
			}
			out := buf.String()
			for _, secret := range []string{tt.n.Excerpt, "13812345678", "1381234", "110101199003071234", "139 0000", "张三", "excerpt", "又来投诉", "li.si"} {
				if secret != "" && strings.Contains(out, secret) {
					t.Errorf("the log shows %q: %s", secret, out)
				}
			}
			var line map[string]any
			if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
				t.Fatalf("one JSON line expected: %v: %s", err, out)
			}
			if line["msg"] != "alert" || line["level"] != "info" {
				t.Errorf("line %s", out)
			}
			for k, v := range tt.want {
				got, _ := json.Marshal(line[k])
				exp, _ := json.Marshal(v)
				if !bytes.Equal(got, exp) {
					t.Errorf("%s = %s, want %s", k, got, exp)
				}
			}
		})
	}
}
