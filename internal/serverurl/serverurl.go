// Package serverurl reads the URLs that declare a mail server in the
// environment for a quick start (TOUSU_IMAP_<NAME>=imap://…,
// TOUSU_SMTP_URL=smtp://…): scheme, host, port, user and password, and
// the query parameters in a stable order. Its errors never contain the
// URL, which may hold a password.
package serverurl

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// URL is a server URL taken apart.
type URL struct {
	Scheme string
	Host   string
	// Port is 0 when the URL names none.
	Port int
	// User and Password are empty when the URL has no user:pass@.
	User, Password string
	// Path is the path without its leading slash (an IMAP folder).
	Path  string
	Query url.Values
}

// Parse takes rawurl apart; its scheme must be one of schemes. The errors
// never quote the URL (url.Parse's would, password included).
func Parse(rawurl string, schemes ...string) (URL, error) {
	u, err := url.Parse(rawurl)
	if err != nil {
		return URL{}, fmt.Errorf("not a valid URL")
	}
	out := URL{Scheme: u.Scheme, Host: u.Hostname(), Path: strings.TrimPrefix(u.Path, "/"), Query: u.Query()}
	if !slices.Contains(schemes, u.Scheme) {
		return out, fmt.Errorf("scheme %q is not %s", u.Scheme, strings.Join(schemes, " or "))
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil {
			return out, fmt.Errorf("port %q is not a number", p)
		}
		out.Port = n
	}
	if u.User != nil {
		out.User = u.User.Username()
		out.Password, _ = u.User.Password()
	}
	return out, nil
}

// Keys returns the query's parameter names in order, so that errors about
// them come in a stable order.
func (u URL) Keys() []string {
	return slices.Sorted(maps.Keys(u.Query))
}

// IsLoopback reports whether host (a name or an IP address, without a
// port) is this machine: localhost, a name under .localhost, or a loopback
// address. Unencrypted connections that carry a password (tls=none) are
// allowed to such a host only.
func IsLoopback(host string) bool {
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// serverName is the name a configured server goes by (a mailbox, an SMTP
// sender): lower-case letters, digits, _ and -.
var serverName = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)

// CheckServer checks what every configured mail server has: its name, a
// host and a TCP port (0: the scheme's default). Each error names its key
// (name:, host:, port:).
func CheckServer(name, host string, port int) []error {
	var errs []error
	if !serverName.MatchString(name) {
		errs = append(errs, fmt.Errorf("name: %q must be 1 to 64 of a-z, 0-9, _ and -", name))
	}
	if strings.TrimSpace(host) == "" {
		errs = append(errs, fmt.Errorf("host: required"))
	}
	if port < 0 || port > 65535 {
		errs = append(errs, fmt.Errorf("port: %d is not a TCP port", port))
	}
	return errs
}
