package ingest

import "testing"

func TestHTMLToText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"<p>a</p><p>b</p>", "a\n\nb"},
		{"a<br>b", "a\nb"},
		{"<table><tr><td>x</td><td>y</td></tr><tr><td>z</td></tr></table>", "x\ty\nz"},
		{"<pre>  keep\n  this</pre>", "keep\n  this"},
		{"a &amp; b&nbsp;c", "a & b c"},
		{`<a href="mailto:x@example.com">x@example.com</a>`, "x@example.com"},
		{"<style>x{}</style><script>y</script>text", "text"},
		{"  lots   of \n spaces ", "lots of spaces"},
		{"<ul><li>宽带断网</li><li>客服不回电</li></ul>", "- 宽带断网\n- 客服不回电"},
		{"<div>登录提示 &lt;password&gt; 错误</div>", "登录提示 <password> 错误"},
		{"<p>订单号：<b>ＯＲＤ１２３</b>，<a href=\"https://shop.example.cn/o/123\">查看</a></p>", "订单号：ＯＲＤ１２３，查看 (https://shop.example.cn/o/123)"},
	}
	for _, tt := range tests {
		if got := HTMLToText(tt.in); got != tt.want {
			t.Errorf("HTMLToText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
