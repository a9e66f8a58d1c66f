package ingest

import "testing"

func TestMaskPhone(t *testing.T) {
	tests := []struct{ in, want string }{
		{"13800138000", "138****8000"},
		{"+8613800138000", "138****8000"},
		{"+86 138 0013 8000", "138****8000"},
		{"１３８００１３８０００", "138****8000"},
		{"010-12345678", "010****5678"},
		{"1234", "****"},
		{"", "****"},
		{"abc13800138000", "138****8000"},
	}
	for _, tt := range tests {
		if got := MaskPhone(tt.in); got != tt.want {
			t.Errorf("MaskPhone(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
