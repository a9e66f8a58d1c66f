package record

import (
	"strings"
	"testing"

	"github.com/tousu/tousu/services/bus"
)

func TestDecodeAndCheckVersion(t *testing.T) {
	type payload struct {
		V int `json:"v"`
	}
	tests := []struct {
		name     string
		value    string
		rejected bool
	}{
		{"version 1", `{"v":1}`, false},
		{"another version", `{"v":2}`, true},
		{"not JSON", `{`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := bus.Message{Topic: bus.TopicCases, Value: []byte(tt.value)}
			var p payload
			err := Decode(m, &p)
			if err == nil {
				err = CheckVersion(m, p.V, 1)
			}
			if (err != nil) != tt.rejected || err != nil && !bus.IsRejected(err) {
				t.Errorf("error %v, want rejected=%v", err, tt.rejected)
			}
			if err != nil && !strings.Contains(err.Error(), bus.TopicCases) {
				t.Errorf("error %v does not name the topic", err)
			}
		})
	}
}

func TestAppendJSON(t *testing.T) {
	tests := []struct {
		name     string
		value    any
		budget   int
		rejected bool
	}{
		{"within the budget", map[string]string{"a": "b"}, 9, false},
		{"over the budget", map[string]string{"a": "b"}, 8, true},
		{"does not encode", func() {}, 100, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out []bus.Message
			err := AppendJSON(&out, tt.budget, bus.TopicAlerts, "k", tt.value)
			if (err != nil) != tt.rejected || err != nil && !bus.IsRejected(err) {
				t.Fatalf("error %v, want rejected=%v", err, tt.rejected)
			}
			if tt.rejected {
				if len(out) != 0 {
					t.Errorf("appended %d messages", len(out))
				}
				return
			}
			if len(out) != 1 || out[0].Topic != bus.TopicAlerts || string(out[0].Key) != "k" || string(out[0].Value) != `{"a":"b"}` {
				t.Errorf("appended %+v", out)
			}
		})
	}
}
