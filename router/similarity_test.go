package router

import "testing"

func TestBigramsJaccard(t *testing.T) {
	tests := []struct {
		a, b string
		want float64
	}{
		{"话费多扣了", "话费多扣了", 1},
		{"话费多扣了", "话费多扣了！！", 1},      // punctuation is no bigram
		{"扣了50元", "扣了80元", 1},        // digits fold to 0
		{"WiFi断了", "wifi断了", 1},      // case folds
		{"话费多扣了", "信号太差", 0},         // nothing shared
		{"话费多扣了", "", 0},             // an empty text is like nothing
		{"多扣了话费", "多扣了钱", 2.0 / 5.0}, // 多扣 扣了 shared of 多扣 扣了 了话 话费 了钱
	}
	for _, tt := range tests {
		if got := Jaccard(Bigrams(tt.a), Bigrams(tt.b)); got != tt.want {
			t.Errorf("Jaccard(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}
