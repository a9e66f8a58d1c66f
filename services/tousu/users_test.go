package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tousu/tousu/internal/polltest"
)

// TestUsersCommands runs `tousu users` against a started embedded tousu,
// with the admin token it keeps in its data directory: the first admin
// exists, an agent is added, its password set, it is disabled, and every
// mistake gets its exit code and a Chinese message.
func TestUsersCommands(t *testing.T) {
	dir := t.TempDir()
	p := startProc(t, nil, "-data", dir)
	password := filepath.Join(dir, "admin-password")
	polltest.Until(t, "the first admin is created", func() bool { _, err := os.Stat(password); return err == nil })
	if info, _ := os.Stat(password); info.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", password, info.Mode().Perm())
	}
	token, err := os.ReadFile(filepath.Join(dir, "bootstrap-token"))
	if err != nil {
		t.Fatal(err)
	}
	wrongToken := filepath.Join(t.TempDir(), "token")
	os.WriteFile(wrongToken, []byte("not-the-admin-token-0123456789\n"), 0o600)
	t.Cleanup(func() { stdin = os.Stdin })
	at := []string{"-url", p.http, "-data", dir}
	tests := []struct {
		args     []string
		environ  []string
		stdin    string
		code     int
		want     []string
		unwanted []string
	}{
		{args: []string{"list"}, want: []string{"账号", "admin", "管理员", "启用，须改密码", "tousu"}},
		{args: []string{"add", "-name", "zhang.wei", "-display", "张伟", "-departments", "客服部，网络部"}, stdin: "Xinhao2026!\n",
			want: []string{"已创建账号 zhang.wei（张伟，agent，客服部、网络部）；首次登录时须修改密码"}},
		{args: []string{"add", "-name", "zhang.wei", "-display", "张伟", "-departments", "客服部"}, stdin: "Xinhao2026!\n", code: 1,
			want: []string{"账号名“zhang.wei”已被使用（409）"}},
		{args: []string{"add", "-name", "li.na", "-role", "supervisor"}, stdin: "1234567890\n", code: 1,
			want: []string{"密码（password）不能只由一类字符组成"}},
		{args: []string{"add", "-name", "li.na", "-role", "主管"}, stdin: "Zhuguan#2026\n", code: 1, want: []string{"角色（role）须为"}},
		{args: []string{"add", "-name", "wang.wu", "-departments", "客服部"}, stdin: "Zhuguan#2026", want: []string{"已创建账号 wang.wu（wang.wu，agent，客服部）"}},
		{args: []string{"add", "-display", "李娜"}, stdin: "Zhuguan#2026\n", code: 2, want: []string{"缺少 -name", "`tousu users add -help`"}},
		{args: []string{"add", "-name", "li.na"}, code: 2, want: []string{"从标准输入读取密码，但没有读到"}},
		{args: []string{"passwd", "-name", "zhang.wei"}, stdin: "Xinmima#2027\r\n", want: []string{"已修改 zhang.wei（张伟，agent，客服部、网络部） 的密码"}},
		{args: []string{"passwd", "-name", "zhang.wei"}, stdin: "zhang.wei\n", code: 1, want: []string{"密码（password）至少需要 10 个字符"}},
		{args: []string{"disable", "-name", "zhang.wei"}, want: []string{"已停用账号 zhang.wei"}},
		{args: []string{"disable", "-name", "zhao.liu"}, code: 1, want: []string{"没有名为“zhao.liu”的账号（404）"}},
		{args: []string{"list"}, want: []string{"zhang.wei", "张伟", "客服部、网络部", "已停用，须改密码", "wang.wu"}, unwanted: []string{"argon2", "Xin"}},
		{args: []string{"list", "-token-file", wrongToken}, code: 1, want: []string{"令牌无效（401）"}},
		{args: []string{"list", "-url", p.http, "-data", t.TempDir()}, environ: []string{"TOUSU_TOKEN=" + string(token)}, want: []string{"zhang.wei"}},
		{args: []string{"list", "-url", p.http, "-data", t.TempDir()}, code: 2, want: []string{"需要管理员 API 令牌", "TOUSU_TOKEN"}},
		{args: []string{"list", "-url", "http://127.0.0.1:1", "-data", dir}, code: 1, want: []string{"无法连接 http://127.0.0.1:1"}},
		{args: []string{"list", "extra"}, code: 2, want: []string{`unexpected argument "extra"`}},
		{args: []string{"add", "-help"}, want: []string{"-departments LIST", "tousu users add -name zhang.wei", "Exit codes"}},
	}
	for _, tt := range tests {
		args := append([]string{"users"}, tt.args...)
		if !strings.HasPrefix(strings.Join(tt.args[1:], " "), "-url") && tt.args[len(tt.args)-1] != "-help" {
			args = append(args, at...) // a test that gives its own -url and -data gets no others
		}
		stdin = strings.NewReader(tt.stdin)
		runAndCheck(t, args, tt.environ, tt.code, tt.want, tt.unwanted)
	}
}

// runAndCheck runs tousu with args and environ and checks its exit code
// and that its output (stdout and stderr) has every string of want and
// none of unwanted.
func runAndCheck(tb testing.TB, args, environ []string, wantCode int, want, unwanted []string) {
	tb.Helper()
	var out, errOut bytes.Buffer
	code := run(args, environ, &out, &errOut)
	all := out.String() + errOut.String()
	if code != wantCode {
		tb.Errorf("tousu %q = %d, want %d: %s", args, code, wantCode, all)
	}
	for _, w := range want {
		if !strings.Contains(all, w) {
			tb.Errorf("tousu %q: %q, want %q in it", args, all, w)
		}
	}
	for _, w := range unwanted {
		if strings.Contains(all, w) {
			tb.Errorf("tousu %q: %q, want no %q in it", args, all, w)
		}
	}
}
