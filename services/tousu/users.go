package main

// This file is `tousu users`: the console's accounts through the admin API
// of a running deployment.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tousu/tousu/services/accounts"
	"github.com/tousu/tousu/services/httpapi"
)

// EnvToken is the admin API token `tousu users` uses when -token-file is
// not given.
const EnvToken = "TOUSU_TOKEN"

// adminClient is the flags every `tousu users` command shares and the
// requests they send.
type adminClient struct {
	url, tokenFile, data string
	// forbidden is the message of a 403; empty: the token is no admin's.
	forbidden string
}

// flags registers -url, -token-file and -data.
func (a *adminClient) flags(fl *flag.FlagSet) {
	fl.StringVar(&a.url, "url", "http://127.0.0.1:8080", "base `URL` of a running tousu console")
	fl.StringVar(&a.tokenFile, "token-file", "", "`FILE` holding an admin API token (default: $"+EnvToken+", else DATA/bootstrap-token when it exists)")
	fl.StringVar(&a.data, "data", "data", "data `DIR`ectory whose bootstrap-token is the default token")
}

// errUsage marks a mistake in how a command was called (exit code 2).
var errUsage = errors.New("usage")

// token returns the admin API token: from -token-file, else $TOUSU_TOKEN,
// else DATA/bootstrap-token.
func (a *adminClient) token(environ []string) (string, error) {
	path := a.tokenFile
	if path == "" {
		if v, ok := lookup(environ, EnvToken); ok && strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v), nil
		}
		path = filepath.Join(a.data, "bootstrap-token")
		if _, err := os.Stat(path); err != nil {
			return "", fmt.Errorf("%w: 需要管理员 API 令牌：用 -token-file FILE 或环境变量 %s 指定（%s 不存在）", errUsage, EnvToken, path)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("读取令牌文件：%w", err)
	}
	if t := strings.TrimSpace(string(b)); t != "" {
		return t, nil
	}
	return "", fmt.Errorf("令牌文件 %s 是空的", path)
}

// lookup returns the value of the variable key in environ.
func lookup(environ []string, key string) (string, bool) {
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// call sends a request to the admin API and decodes a 2xx answer into out;
// any other answer is an error with the API's Chinese message.
func (a *adminClient) call(x cmdIO, method, path string, body, out any) error {
	token, err := a.token(x.environ)
	if err != nil {
		return err
	}
	var payload io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		payload = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, strings.TrimRight(a.url, "/")+path, payload)
	if err != nil {
		return fmt.Errorf("%w: -url %q 不是有效的地址", errUsage, a.url)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("无法连接 %s（tousu 是否在运行？-url 是否正确？）：%w", a.url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var refusal struct{ Message string }
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return errors.New("令牌无效（401）：检查 -token-file 或 " + EnvToken)
	case resp.StatusCode == http.StatusForbidden && a.forbidden != "":
		return errors.New(a.forbidden)
	case resp.StatusCode == http.StatusForbidden:
		return errors.New("该令牌不是管理员令牌（403）")
	case resp.StatusCode >= 300 && json.Unmarshal(b, &refusal) == nil && refusal.Message != "":
		return fmt.Errorf("%s（%d）", refusal.Message, resp.StatusCode)
	case resp.StatusCode >= 300:
		return fmt.Errorf("服务器答复 %s", resp.Status)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("读不懂服务器的答复：%w", err)
		}
	}
	return nil
}

// usersRun runs a users command's work and turns its error into an exit
// code and a message.
func usersRun(c *command, x cmdIO, work func() error) int {
	err := work()
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errUsage):
		fmt.Fprintf(x.stderr, "tousu %s: %s\n`tousu %s -help` shows its flags and examples\n", c.name, strings.TrimPrefix(err.Error(), errUsage.Error()+": "), c.name)
		return exitUsage
	default:
		fmt.Fprintf(x.stderr, "tousu %s: %v\n", c.name, err)
		return exitFailure
	}
}

// needName refuses a missing -name.
func needName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: 缺少 -name（账号名）", errUsage)
	}
	return nil
}

// readPassword reads a password from the first line of stdin.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("读取标准输入：%w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("%w: 从标准输入读取密码，但没有读到（例如：printf '%%s\\n' \"$PASSWORD\" | tousu users ...）", errUsage)
	}
	return line, nil
}

// splitDepartments reads a list of departments separated by ASCII or
// full-width commas or 、.
func splitDepartments(s string) []string {
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '，' || r == '、' })
	out := []string{}
	for _, f := range fields {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// describe says who an account is, in one line.
func describe(p accounts.Profile) string {
	deps := strings.Join(p.Departments, "、")
	if deps == "" {
		deps = "无部门"
	}
	return fmt.Sprintf("%s（%s，%s，%s）", p.Name, p.DisplayName, p.Role, deps)
}

// usersAdd creates an account with the password read from stdin.
func usersAdd(c *command, fl *flag.FlagSet) func([]string, cmdIO) int {
	var a adminClient
	a.flags(fl)
	var spec accounts.Spec
	var role, departments string
	fl.StringVar(&spec.Name, "name", "", "sign-in `NAME`: 2-64 of a-z 0-9 . _ -")
	fl.StringVar(&spec.DisplayName, "display", "", "display `NAME` (default the sign-in name)")
	fl.StringVar(&role, "role", "agent", "`ROLE`: agent, supervisor, ops or admin")
	fl.StringVar(&departments, "departments", "", "comma-separated `LIST` of departments (an agent needs one)")
	return func(_ []string, x cmdIO) int {
		return usersRun(c, x, func() error {
			if err := needName(spec.Name); err != nil {
				return err
			}
			password, err := readPassword(x.stdin)
			if err != nil {
				return err
			}
			spec.Role, spec.Departments, spec.Password = accounts.Role(role), splitDepartments(departments), password
			var created accounts.Profile
			if err := a.call(x, http.MethodPost, httpapi.PathAdminUsers, spec, &created); err != nil {
				return err
			}
			fmt.Fprintf(x.stdout, "已创建账号 %s；首次登录时须修改密码\n", describe(created))
			return nil
		})
	}
}

// usersPatch is a users command that changes one account: patch makes the
// change (it may read stdin), done says what was done.
func usersPatch(c *command, fl *flag.FlagSet, patch func(x cmdIO) (accounts.Patch, error), done func(accounts.Profile) string) func([]string, cmdIO) int {
	var a adminClient
	a.flags(fl)
	var name string
	fl.StringVar(&name, "name", "", "sign-in `NAME` of the account")
	return func(_ []string, x cmdIO) int {
		return usersRun(c, x, func() error {
			if err := needName(name); err != nil {
				return err
			}
			p, err := patch(x)
			if err != nil {
				return err
			}
			var changed accounts.Profile
			if err := a.call(x, http.MethodPatch, httpapi.PathAdminUsers+"/"+name, p, &changed); err != nil {
				return err
			}
			fmt.Fprintln(x.stdout, done(changed))
			return nil
		})
	}
}

// usersPasswd sets an account's password, read from stdin.
func usersPasswd(c *command, fl *flag.FlagSet) func([]string, cmdIO) int {
	return usersPatch(c, fl, func(x cmdIO) (accounts.Patch, error) {
		password, err := readPassword(x.stdin)
		return accounts.Patch{Password: &password}, err
	}, func(p accounts.Profile) string {
		return "已修改 " + describe(p) + " 的密码；下次登录时须修改密码"
	})
}

// usersDisable disables an account.
func usersDisable(c *command, fl *flag.FlagSet) func([]string, cmdIO) int {
	return usersPatch(c, fl, func(cmdIO) (accounts.Patch, error) {
		return accounts.Patch{Disabled: new(true)}, nil
	}, func(p accounts.Profile) string { return "已停用账号 " + describe(p) })
}

// usersList prints every account as a table.
func usersList(c *command, fl *flag.FlagSet) func([]string, cmdIO) int {
	var a adminClient
	a.flags(fl)
	return func(_ []string, x cmdIO) int {
		return usersRun(c, x, func() error {
			var list struct{ Users []accounts.Profile }
			if err := a.call(x, http.MethodGet, httpapi.PathAdminUsers, nil, &list); err != nil {
				return err
			}
			w := tabwriter.NewWriter(x.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "账号\t显示名称\t角色\t部门\t状态\t最后修改")
			for _, u := range list.Users {
				state := "启用"
				if u.Disabled {
					state = "已停用"
				}
				if u.MustChangePassword {
					state += "，须改密码"
				}
				deps := strings.Join(u.Departments, "、")
				if deps == "" {
					deps = "-"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s %s\n", u.Name, u.DisplayName, u.Role, deps, state,
					u.UpdatedAt.In(beijing).Format("2006-01-02 15:04"), u.UpdatedBy)
			}
			return w.Flush()
		})
	}
}

// beijing is the time zone the list shows times in.
var beijing = time.FixedZone("CST", 8*3600)
