package ingest_test

import (
	"encoding/json"
	"testing"

	"github.com/tousu/tousu/ingest"
)

func TestEncodeJSON(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"html stays one byte", map[string]string{"d": "<a&b>"}, `{"d":"<a&b>"}`},
		{"quotes and controls escaped", "\"\\\x01", `"\"\\\u0001"`},
		{"line separators stay valid JavaScript", "\u2028", `"\u2028"`},
		{"no trailing newline", 1, `1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ingest.EncodeJSON(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("EncodeJSON(%q) = %s, want %s", tt.in, got, tt.want)
			}
			var back any
			if err := json.Unmarshal(got, &back); err != nil {
				t.Fatalf("does not decode: %v", err)
			}
		})
	}
	if _, err := ingest.EncodeJSON(make(chan int)); err == nil {
		t.Fatal("a channel encoded")
	}
}
