package ingest

import "testing"

func TestIsOurAddress(t *testing.T) {
	ours := []string{"Complaints@Tousu.example.com ", "@kefu.example.com"}
	tests := []struct {
		addr string
		want bool
	}{
		{"complaints@tousu.example.com", true},
		{" COMPLAINTS@tousu.example.com", true},
		{"zhangsan@kefu.example.com", true},
		{"zhangsan@mail.kefu.example.com", false}, // a subdomain is not the domain
		{"zhangsan@notkefu.example.com", false},
		{"wang.li@163.com", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := IsOurAddress(tt.addr, ours); got != tt.want {
			t.Errorf("IsOurAddress(%q) = %v, want %v", tt.addr, got, tt.want)
		}
	}
}
