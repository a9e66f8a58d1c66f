package caseindex

import (
	"slices"
	"testing"
)

func TestParseText(t *testing.T) {
	tests := []struct {
		text    string
		phrases []string
		terms   string
		whole   string
	}{
		{"信号很差", nil, "信号很差", "信号很差"},
		{`"信号差"`, []string{"信号差"}, "", "信号差"},
		{`＂信号差＂`, []string{"信号差"}, "", "信号差"},
		{`“信号差”`, []string{"信号差"}, "", "信号差"},
		{`“信号差"`, []string{"信号差"}, "", "信号差"}, // any pairing
		{`宽带 "掉线三天" 10086`, []string{"掉线三天"}, "宽带 10086", "宽带 掉线三天 10086"},
		{`"5G" "信号差"`, []string{"5G", "信号差"}, "", "5G 信号差"},
		{`"信号差`, []string{"信号差"}, "", "信号差"}, // left open: to the end
		{`信号"`, nil, "信号", "信号"},
		{`""`, nil, "", ""},
		{`" "  `, nil, "", ""},
		{"  GD20240506000117 ", nil, "GD20240506000117", "GD20240506000117"},
		{`\"宽带`, []string{"宽带"}, "", "宽带"}, // the backslash is no term
		{`！"信号差"？`, []string{"信号差"}, "", "信号差"},
		{`"！？" 宽带`, nil, "宽带", "宽带"},
		{"！？", nil, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.text, func(t *testing.T) {
			got := ParseText(tc.text)
			if !slices.Equal(got.Phrases, tc.phrases) || got.Terms != tc.terms || got.Whole != tc.whole {
				t.Errorf("ParseText(%q) = %+v, want phrases %q, terms %q, whole %q", tc.text, got, tc.phrases, tc.terms, tc.whole)
			}
		})
	}
}

func TestMinTerms(t *testing.T) {
	for n, want := range []int{0, 1, 2, 3, 3, 4, 5, 6, 6, 7, 8, 9, 9} {
		if got := MinTerms(n); got != want {
			t.Errorf("MinTerms(%d) = %d, want %d", n, got, want)
		}
	}
	for _, name := range TextKeywords {
		if _, ok := FilterNamed(name); !ok {
			t.Errorf("text keyword %s is no filter", name)
		}
	}
}
