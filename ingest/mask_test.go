package ingest

import (
	"testing"
	"unicode/utf8"
)

// maskTextCases are texts as customers and agents write them; want is what
// a role that may not see contacts reads.
var maskTextCases = []struct{ name, in, want string }{
	{"mobile in a sentence", "客户电话13800138000，请尽快回电", "客户电话138****8000，请尽快回电"},
	{"mobile with +86 and spaces", "联系方式：+86 138 0013 8000。", "联系方式：138****8000。"},
	{"mobile with 86 and dashes", "手机86-138-0013-8000", "手机138****8000"},
	{"mobile with 0086", "0086 13800138000", "138****8000"},
	{"full-width mobile", "我的手机是１３８００１３８０００谢谢", "我的手机是138****8000谢谢"},
	{"two mobiles", "13800138000/13912345678都打不通", "138****8000/139****5678都打不通"},
	{"terse agent note", "已回电13912345678,客户要求退款1380元,订单20260311000123", "已回电139****5678,客户要求退款1380元,订单20260311000123"},
	{"landline", "座机010-12345678", "座机010****5678"},
	{"landline with spaces", "门店电话 0755 8888 8888 无人接", "门店电话 075****8888 无人接"},
	{"landline in parentheses", "（0755）88888888", "（075****8888"},
	{"ID card", "身份证号11010519491231002X已核实", "身份证号110***********002X已核实"},
	{"ID card lower-case x", "证件号 11010519491231002x", "证件号 110***********002X"},
	{"ID card in groups", "110105 19491231 002X", "110***********002X"},
	{"ID card all digits", "身份证110101199003070011", "身份证110***********0011"},
	{"old ID card", "老身份证110105491231002", "老身份证110********1002"},
	{"bank card", "退款到卡号6222021234567894吧", "退款到卡号6222********7894吧"},
	{"bank card in groups", "卡号 6222 0212 3456 7894", "卡号 6222********7894"},
	{"bank card of 19 digits", "6217000012345678907", "6217***********8907"},
	{"e-mail", "请发到zhang.san@example.com，谢谢", "请发到z***@example.com，谢谢"},
	{"e-mail with digits", "QQ邮箱 13800138000@qq.com.", "QQ邮箱 1***@qq.com."},
	{"date and mobile", "2026-03-11 13800138000 来电", "2026-03-11 138****8000 来电"},

	{"date", "2026-03-11 下单，2026年3月11日到货", "2026-03-11 下单，2026年3月11日到货"},
	{"amounts", "退款1380.00元，实付1,380.00元，优惠138.5", "退款1380.00元，实付1,380.00元，优惠138.5"},
	{"20-digit order number", "订单号20260311123456789012", "订单号20260311123456789012"},
	{"19-digit order number", "订单2026031112345678901", "订单2026031112345678901"},
	{"card failing Luhn", "单号6222021234567895", "单号6222021234567895"},
	{"18 digits, wrong check digit", "110105194912310021", "110105194912310021"},
	{"11 digits not a mobile", "工单12345678901", "工单12345678901"},
	{"hotline", "拨打4008 123 456或95588", "拨打4008 123 456或95588"},
	{"time and counts", "14:30第3次来电，等了45分钟", "14:30第3次来电，等了45分钟"},
	{"already masked", "138****8000 6222********7894 110***********002X z***@example.com", "138****8000 6222********7894 110***********002X z***@example.com"},
	{"no digits", "手机信号差了三天", "手机信号差了三天"},
	{"invalid UTF-8 kept", "\xff13800138000\xfe", "\xff138****8000\xfe"},
}

func TestMaskText(t *testing.T) {
	for _, tt := range maskTextCases {
		t.Run(tt.name, func(t *testing.T) {
			if got := MaskText(tt.in); got != tt.want {
				t.Errorf("MaskText(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestMaskFields: the maskers of single values, and MaskExcerpt of the
// cut texts of alerts.
func TestMaskFields(t *testing.T) {
	tests := []struct {
		name     string
		mask     func(string) string
		in, want string
	}{
		{"MaskPhone", MaskPhone, "13800138000", "138****8000"},
		{"MaskPhone", MaskPhone, "+8613800138000", "138****8000"},
		{"MaskPhone", MaskPhone, "+86 138 0013 8000", "138****8000"},
		{"MaskPhone", MaskPhone, "１３８００１３８０００", "138****8000"},
		{"MaskPhone", MaskPhone, "010-12345678", "010****5678"},
		{"MaskPhone", MaskPhone, "1234", "****"},
		{"MaskPhone", MaskPhone, "", "****"},
		{"MaskPhone", MaskPhone, "abc13800138000", "138****8000"},

		{"MaskEmail", MaskEmail, "zhang@example.com", "z***@example.com"},
		{"MaskEmail", MaskEmail, "张三@example.com", "张***@example.com"},
		{"MaskEmail", MaskEmail, "@example.com", "***"},
		{"MaskEmail", MaskEmail, "no address", "***"},

		{"MaskName", MaskName, "张三", "张*"},
		{"MaskName", MaskName, "欧阳娜娜", "欧**"},
		{"MaskName", MaskName, "王<img src=x onerror=alert(1)> 先生", "王**"},
		{"MaskName", MaskName, "张", "*"},
		{"MaskName", MaskName, " John Smith ", "J**"},
		{"MaskName", MaskName, "", ""},

		{"MaskExcerpt", MaskExcerpt, "回电13800138000，身份证11010519491231002X已核实…", "回电138****8000，身份证110***********002X已核实…"},
		{"MaskExcerpt", MaskExcerpt, "请回电1380013…", "请回电…"},
		{"MaskExcerpt", MaskExcerpt, "电话 +86 138 0013 80…", "电话…"},
		{"MaskExcerpt", MaskExcerpt, "邮件发到zhang.san@exam…", "邮件发到…"},
		{"MaskExcerpt", MaskExcerpt, "身份证1101051949123…", "身份证…"},
		{"MaskExcerpt", MaskExcerpt, "订单20260311，退款1380.00元…", "订单20260311，退款1380.00元…"},
		{"MaskExcerpt", MaskExcerpt, "没有被截断 13800138000", "没有被截断 138****8000"},
		{"MaskExcerpt", MaskExcerpt, "…", "…"},
	}
	for _, tt := range tests {
		if got := tt.mask(tt.in); got != tt.want {
			t.Errorf("%s(%q) = %q, want %q", tt.name, tt.in, got, tt.want)
		}
	}
}

// FuzzMaskText: masking never panics, keeps valid UTF-8 valid, is
// idempotent (what it leaves is no number it would mask) and never adds a
// digit.
func FuzzMaskText(f *testing.F) {
	for _, tt := range maskTextCases {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := MaskText(s)
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("MaskText(%q) = %q, not UTF-8", s, got)
		}
		if again := MaskText(got); again != got {
			t.Fatalf("MaskText(%q) = %q, but masking that gives %q", s, got, again)
		}
		if n, m := len(PhoneDigits(s)), len(PhoneDigits(got)); m > n {
			t.Fatalf("MaskText(%q) = %q has %d digits, the text %d", s, got, m, n)
		}
	})
}
