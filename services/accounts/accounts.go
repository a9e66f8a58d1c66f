// Package accounts holds the people who sign in to the console: each
// Account's name, display name, departments, role, password hash and
// state, and the rules for creating and changing one.
//
// The accounts are shared by every console replica through a compacted
// topic (bus.TopicAccounts): a Store writes each change as the whole
// account after it, and every replica follows the topic into memory (a
// bus.Follower with Store.Follow as its handler), so an account created
// on one replica signs in on all of them. A Store's writes are visible to
// it once its follower has read them back: Create and Update wait for
// that (read-your-writes). The topic's order decides: concurrent changes
// of one account are applied in topic order and the last one wins whole;
// of two creations of one name, the first in topic order wins and the
// other is refused on every replica alike.
//
// The rules (ValidateName, CheckPassword, Create, Apply) are pure functions;
// Store is safe for concurrent use.
package accounts

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Role is what an account may do in the console.
type Role string

// The roles of accounts.
const (
	// RoleAgent works the cases of their departments.
	RoleAgent Role = "agent"
	// RoleSupervisor works every case and watches the deadlines.
	RoleSupervisor Role = "supervisor"
	// RoleOps sees the operations pages only.
	RoleOps Role = "ops"
	// RoleAdmin manages the accounts.
	RoleAdmin Role = "admin"
)

// Roles lists every role, for messages and help.
var Roles = []Role{RoleAgent, RoleSupervisor, RoleOps, RoleAdmin}

// Profile is an account but its password: what the admin API and the
// command line show.
type Profile struct {
	// Name is the sign-in name: 2 to 64 of a-z, 0-9, '.', '_' and '-'.
	Name        string   `json:"name"`
	DisplayName string   `json:"display_name"`
	Departments []string `json:"departments"`
	Role        Role     `json:"role"`
	Disabled    bool     `json:"disabled"`
	// MustChangePassword asks the person to choose a new password at the
	// next sign-in: set when someone else set the password.
	MustChangePassword bool `json:"must_change_password"`
	// PasswordChangedAt is when the password was last set; sessions
	// started before it are no longer valid.
	PasswordChangedAt time.Time `json:"password_changed_at"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
	// UpdatedBy names who made the last change (an account or an API
	// token).
	UpdatedBy string `json:"updated_by"`
}

// Account is one person who signs in to the console.
type Account struct {
	Profile
	// PasswordHash is the argon2id hash of the password with its
	// parameters (see HashPassword); never shown.
	PasswordHash string `json:"password_hash"`
}

// Limits of an account's fields.
const (
	MinPasswordRunes   = 10
	MaxPasswordRunes   = 128
	MaxDisplayRunes    = 64
	MaxDepartmentRunes = 64
	MaxDepartments     = 32
)

// FieldError is a field of an account that breaks a rule: Field names it
// as the API does, Code is a stable machine-readable reason and Message
// says it in Chinese.
type FieldError struct {
	Field   string
	Code    string
	Message string
}

func (e *FieldError) Error() string { return fmt.Sprintf("accounts: %s: %s", e.Field, e.Code) }

func fieldError(field, code, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Code: code, Message: fmt.Sprintf(format, args...)}
}

var nameRe = regexp.MustCompile(`^[a-z0-9._-]{2,64}$`)

// ValidateName checks a sign-in name.
func ValidateName(name string) error {
	if !nameRe.MatchString(name) {
		return fieldError("name", "invalid_name", "账号名（name）须为 2 到 64 个小写字母、数字、“.”、“_”或“-”：“%s”不符合", clip(name))
	}
	return nil
}

// CheckPassword checks a new password of the account name: at least
// MinPasswordRunes characters, at most MaxPasswordRunes, of more than one
// class (lower-case letters, upper-case letters, digits, others), and not
// the name itself.
func CheckPassword(name, password string) error {
	n := utf8.RuneCountInString(password)
	switch {
	case !utf8.ValidString(password) || strings.ContainsFunc(password, unicode.IsControl):
		return fieldError("password", "password_invalid", "密码（password）含有控制字符或无效字符")
	case n < MinPasswordRunes:
		return fieldError("password", "password_too_short", "密码（password）至少需要 %d 个字符，现在只有 %d 个", MinPasswordRunes, n)
	case n > MaxPasswordRunes:
		return fieldError("password", "password_too_long", "密码（password）最多 %d 个字符", MaxPasswordRunes)
	case strings.EqualFold(strings.TrimSpace(password), name):
		return fieldError("password", "password_is_name", "密码（password）不能与账号名相同")
	case classes(password) < 2:
		return fieldError("password", "password_one_class", "密码（password）不能只由一类字符组成：请混合字母、数字或符号")
	}
	return nil
}

// classes counts the character classes in s: lower-case letters,
// upper-case letters, digits and everything else.
func classes(s string) int {
	var seen [4]bool
	for _, r := range s {
		switch {
		case unicode.IsLower(r):
			seen[0] = true
		case unicode.IsUpper(r):
			seen[1] = true
		case unicode.IsDigit(r):
			seen[2] = true
		default:
			seen[3] = true
		}
	}
	n := 0
	for _, b := range seen {
		if b {
			n++
		}
	}
	return n
}

// checkRole checks a role.
func checkRole(r Role) error {
	if !slices.Contains(Roles, r) {
		return fieldError("role", "invalid_role", "角色（role）须为 agent（坐席）、supervisor（主管）、ops（运维）或 admin（管理员）之一，不能是“%s”", clip(string(r)))
	}
	return nil
}

// checkDisplay checks a display name.
func checkDisplay(s string) error {
	switch {
	case strings.TrimSpace(s) == "":
		return fieldError("display_name", "display_name_required", "显示名称（display_name）不能为空")
	case utf8.RuneCountInString(s) > MaxDisplayRunes || !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl):
		return fieldError("display_name", "display_name_invalid", "显示名称（display_name）最多 %d 个字，且不能含控制字符", MaxDisplayRunes)
	}
	return nil
}

// cleanDepartments trims each department and checks the list: each set,
// at most MaxDepartmentRunes long, none twice, at most MaxDepartments, and
// at least one for an agent, who works the cases of their departments.
func cleanDepartments(deps []string, role Role) ([]string, error) {
	out := make([]string, 0, len(deps))
	for _, d := range deps {
		d = strings.TrimSpace(d)
		switch {
		case d == "":
			return nil, fieldError("departments", "department_empty", "部门（departments）中有空的部门名称")
		case utf8.RuneCountInString(d) > MaxDepartmentRunes || !utf8.ValidString(d) || strings.ContainsFunc(d, unicode.IsControl):
			return nil, fieldError("departments", "department_invalid", "部门（departments）名称最多 %d 个字，且不能含控制字符", MaxDepartmentRunes)
		case slices.Contains(out, d):
			return nil, fieldError("departments", "department_repeated", "部门（departments）中“%s”出现了两次", d)
		}
		out = append(out, d)
	}
	switch {
	case len(out) > MaxDepartments:
		return nil, fieldError("departments", "too_many_departments", "部门（departments）最多 %d 个", MaxDepartments)
	case len(out) == 0 && role == RoleAgent:
		return nil, fieldError("departments", "departments_required", "坐席（agent）至少要属于一个部门（departments）")
	}
	return out, nil
}

// clip shortens what a person typed for a message.
func clip(s string) string {
	if r := []rune(s); len(r) > 40 {
		return string(r[:40]) + "…"
	}
	return s
}

// Spec is what makes a new account.
type Spec struct {
	Name        string   `json:"name"`
	DisplayName string   `json:"display_name"`
	Role        Role     `json:"role"`
	Departments []string `json:"departments"`
	Password    string   `json:"password"`
}

// Create returns the account spec describes, made by by at now, or the
// first rule it breaks (a *FieldError). An empty display name is the
// name. The password is hashed; by another than the account itself, it
// must be changed at the first sign-in.
func Create(spec Spec, by string, now time.Time) (Account, error) {
	if err := ValidateName(spec.Name); err != nil {
		return Account{}, err
	}
	if spec.DisplayName == "" {
		spec.DisplayName = spec.Name
	}
	if err := checkDisplay(spec.DisplayName); err != nil {
		return Account{}, err
	}
	if err := checkRole(spec.Role); err != nil {
		return Account{}, err
	}
	deps, err := cleanDepartments(spec.Departments, spec.Role)
	if err != nil {
		return Account{}, err
	}
	now = now.UTC()
	a := Account{Profile: Profile{Name: spec.Name, DisplayName: strings.TrimSpace(spec.DisplayName), Departments: deps, Role: spec.Role,
		CreatedAt: now, UpdatedAt: now, UpdatedBy: by}}
	if err := setPassword(&a, spec.Password, by, now); err != nil {
		return Account{}, err
	}
	return a, nil
}

// Patch is a change of an account; nil fields stay as they are.
type Patch struct {
	DisplayName *string   `json:"display_name"`
	Role        *Role     `json:"role"`
	Departments *[]string `json:"departments"`
	Password    *string   `json:"password"`
	Disabled    *bool     `json:"disabled"`
}

// Fields names the fields the patch changes, for the log (never their
// values: one may be a password).
func (p Patch) Fields() []string {
	var out []string
	for _, f := range []struct {
		name string
		set  bool
	}{{"display_name", p.DisplayName != nil}, {"role", p.Role != nil}, {"departments", p.Departments != nil},
		{"password", p.Password != nil}, {"disabled", p.Disabled != nil}} {
		if f.set {
			out = append(out, f.name)
		}
	}
	return out
}

// ErrEmptyPatch is the error of a patch that changes nothing.
var ErrEmptyPatch = &FieldError{Field: "", Code: "empty_patch", Message: "请求没有修改任何字段（可修改 display_name、role、departments、password、disabled）"}

// Apply returns a after p, made by by at now, or the first rule it breaks
// (a *FieldError). A new password sets PasswordChangedAt, which ends the
// sessions started before it; set by someone other than the account
// itself, it must be changed at the next sign-in.
func Apply(a Account, p Patch, by string, now time.Time) (Account, error) {
	if len(p.Fields()) == 0 {
		return Account{}, ErrEmptyPatch
	}
	now = now.UTC()
	a.Departments = slices.Clone(a.Departments)
	if p.DisplayName != nil {
		if err := checkDisplay(*p.DisplayName); err != nil {
			return Account{}, err
		}
		a.DisplayName = strings.TrimSpace(*p.DisplayName)
	}
	if p.Role != nil {
		if err := checkRole(*p.Role); err != nil {
			return Account{}, err
		}
		a.Role = *p.Role
	}
	deps := a.Departments
	if p.Departments != nil {
		deps = *p.Departments
	}
	deps, err := cleanDepartments(deps, a.Role)
	if err != nil {
		return Account{}, err
	}
	a.Departments = deps
	if p.Password != nil {
		if err := setPassword(&a, *p.Password, by, now); err != nil {
			return Account{}, err
		}
	}
	if p.Disabled != nil {
		a.Disabled = *p.Disabled
	}
	a.UpdatedAt, a.UpdatedBy = now, by
	return a, nil
}

// setPassword checks and hashes a new password of a.
func setPassword(a *Account, password, by string, now time.Time) error {
	if err := CheckPassword(a.Name, password); err != nil {
		return err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return fmt.Errorf("accounts: hash the password of %s: %w", a.Name, err)
	}
	a.PasswordHash, a.PasswordChangedAt, a.MustChangePassword = hash, now, by != a.Name
	return nil
}

// IsFieldError reports whether err breaks a rule of an account's fields,
// and returns it.
func IsFieldError(err error) (*FieldError, bool) {
	var fe *FieldError
	ok := errors.As(err, &fe)
	return fe, ok
}

// KeepsAnAdmin checks that changing before into after leaves an enabled
// admin among accounts (every account, before included): demoting or
// disabling the last one would lock everyone out of managing accounts.
func KeepsAnAdmin(accounts []Account, before, after Account) error {
	enabledAdmin := func(a Account) bool { return a.Role == RoleAdmin && !a.Disabled }
	if !enabledAdmin(before) || enabledAdmin(after) {
		return nil
	}
	for _, a := range accounts {
		if a.Name != before.Name && enabledAdmin(a) {
			return nil
		}
	}
	field := "role"
	if after.Role == RoleAdmin {
		field = "disabled"
	}
	return fieldError(field, "last_admin", "%s 是唯一启用的管理员账号，不能停用或改为其他角色；请先创建或启用另一个管理员", before.Name)
}
