package router

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// TestRuneSet: a text's rune set never rules out a string the text
// contains (every substring of realistic texts, lying bytes included), and
// rules out keywords with a rune the text lacks.
func TestRuneSet(t *testing.T) {
	tests := []struct {
		name, text string
		absent     []string // keywords the set must rule out
	}{
		{"hotline note", "客户来电：手机12月3号起无信号，已报修2次，要求减免月租。。坐席备注：情绪激动", []string{"宽带", "退款", "理赔"}},
		{"property", "楼上漏水到我家天花板，物业说找开发商，开发商说过了保修期，拖了快一个月", []string{"电梯", "停车"}},
		{"typos and full width", "汽车4s店保养后 发动机异响，ｔｅｌ：１３８００００００００ 我要头诉！！", []string{"刹车", "变速箱"}},
		{"lying charset", "鍙风爜鏃犱俊鍙\xff\xfe 乱码 \xe4\xb8 半个字", []string{"信号"}},
		{"empty", "", []string{"投诉"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := runeSetOf(tt.text)
			for i := 0; i <= len(tt.text); i++ {
				for j := i + 1; j <= len(tt.text) && j-i <= 12; j++ {
					sub := tt.text[i:j]
					if !set.mayHold(runeBitsOf(sub)) {
						t.Fatalf("%q holds %q, ruled out", tt.text, sub)
					}
				}
			}
			for _, k := range tt.absent {
				if strings.Contains(tt.text, k) {
					t.Fatalf("%q holds %q", tt.text, k)
				}
				if set.mayHold(runeBitsOf(k)) {
					t.Errorf("%q not ruled out in %q", k, tt.text)
				}
			}
		})
	}
	if b := runeBitsOf("\xe4\xb8"); b != nil || !utf8.ValidString("信号") {
		t.Errorf("bits of an invalid string %v, want none", b)
	}
}
