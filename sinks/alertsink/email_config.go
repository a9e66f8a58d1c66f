package alertsink

import (
	"errors"
	"fmt"
	"maps"
	"net/mail"
	"slices"
	"strings"
	"unicode"

	"github.com/tousu/tousu/internal/keypath"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/sinks/outbound"
)

// EmailConfig is one e-mail alert target: the SMTP server alerts go
// through and who gets which notice. Its password is a secret and its
// addresses are personal data: neither is ever logged or in an error.
type EmailConfig struct {
	// Name identifies the target in metrics, logs and errors, like a
	// webhook's name (unique among webhooks, robots and e-mail targets).
	Name string `yaml:"name"`
	// SMTP is the server, with the fields of a sender.smtp entry: host,
	// port, tls, username, password, from, timeout (its own, not the
	// customer mail's, so that internal alerts may use an internal relay).
	// Its name is the target's (Provision fills it) and it has no packs.
	SMTP outbound.SMTPConfig `yaml:"smtp"`
	// To lists the addresses of each role an escalation notifies (the
	// roles of the pack's ladders, router.Notice.Notify: 质量总监,
	// 部门负责人…): an escalation goes to the addresses of every role it
	// names. An address is bare (zhang.wei@example.com) or with a name
	// (张伟 <zhang.wei@example.com>).
	To map[string][]string `yaml:"to"`
	// All are the addresses that get every notice the filter lets
	// through: urges and batch notices, which name no role, and every
	// escalation. Without All, only escalations to a role of To are sent
	// (Kinds must then be [escalation]).
	All []string `yaml:"all"`
	// Kinds and MinLevel filter the notices as a webhook's do; the roles
	// of To are the Notify filter when All is empty.
	Kinds    []string `yaml:"kinds"`
	MinLevel int      `yaml:"min_level"`
	// OmitExcerpt leaves the complaint excerpt out of the mail.
	OmitExcerpt bool `yaml:"omit_excerpt"`
}

// Filter returns the target's filter: its kinds and minimum level and,
// when it has no All addresses, only escalations to the roles of To.
func (e EmailConfig) Filter() Filter {
	f := Filter{Kinds: e.Kinds, MinLevel: e.MinLevel}
	if len(e.All) == 0 {
		f.Notify = slices.Sorted(maps.Keys(e.To))
	}
	return f
}

// Provision names the SMTP server after the target and fills its
// defaults. It reads nothing.
func (e *EmailConfig) Provision() {
	if e.SMTP.Name == "" {
		e.SMTP.Name = e.Name
	}
	e.SMTP.Provision()
}

// validate checks what is the target's own: its server (as a sender's,
// without name and packs), its addresses, that some address is given and
// that a notice without a role has one. Errors name keys below the
// target (smtp.port, to.质量总监[1], all[0]), never an address or the
// password.
func (e EmailConfig) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	server := e.SMTP
	if server.Name != "" && server.Name != e.Name {
		bad("smtp.name: leave it out: the server is named after the target (%s)", e.Name)
	}
	server.Name = "alerts" // the target's name is checked as such
	if len(server.Packs) > 0 {
		bad("smtp.packs: alert mail belongs to no pack")
	}
	errs = append(errs, keypath.Prefix("smtp", server.Validate())...)
	for _, role := range slices.Sorted(maps.Keys(e.To)) {
		switch {
		case role == "" || strings.ContainsFunc(role, unicode.IsSpace) || strings.ContainsRune(role, '"'):
			bad("to: %q is not a role such as 质量总监", role)
		case len(e.To[role]) == 0:
			bad("to.%s: no address", role)
		}
		errs = append(errs, checkAddresses("to."+role, e.To[role])...)
	}
	errs = append(errs, checkAddresses("all", e.All)...)
	switch {
	case len(e.All) == 0 && len(e.To) == 0:
		bad("to: required: the addresses of each role (to: {质量总监: [zhang.wei@example.com]}) or of all notices (all)")
	case len(e.All) == 0 && (len(e.Kinds) == 0 || slices.ContainsFunc(e.Kinds, func(k string) bool { return k != router.NoticeEscalation })):
		bad("all: urges and batch notices name no role and would reach nobody: list their addresses under all, or set kinds: [escalation]")
	}
	return errors.Join(errs...)
}

// checkAddresses checks the addresses listed under key, naming each bad
// one by its index, not by its text.
func checkAddresses(key string, addrs []string) []error {
	var errs []error
	for i, a := range addrs {
		if _, err := parseAddress(a); err != nil {
			errs = append(errs, fmt.Errorf("%s[%d]: %w", key, i, err))
		}
	}
	return errs
}

// parseAddress parses one configured address: bare or with a display
// name, its address part in ASCII with a domain.
func parseAddress(s string) (mail.Address, error) {
	a, err := mail.ParseAddress(strings.TrimSpace(s))
	if err != nil || !ascii(a.Address) || !strings.Contains(a.Address[strings.LastIndexByte(a.Address, '@')+1:], ".") {
		return mail.Address{}, errors.New("not an e-mail address such as 张伟 <zhang.wei@example.com> or zhang.wei@example.com")
	}
	return *a, nil
}

func ascii(s string) bool {
	for _, r := range s {
		if r > unicode.MaxASCII {
			return false
		}
	}
	return true
}
