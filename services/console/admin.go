package console

// The accounts page (GET /console/admin/users) for admins: the list of
// accounts, creating one, changing one (GET and POST
// /console/admin/users/:name) and resetting its password (POST
// /console/admin/users/:name/password), through the admin API's core
// (httpapi.Admin), so the rules, the store and the log are the API's.
// Anyone else gets the page that does not exist.

import (
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/tousu/tousu/services/accounts"
	"github.com/tousu/tousu/services/httpapi"
)

// pathUsers is the accounts page.
const pathUsers = Path + "/admin/users"

// usersData is the data of the accounts page and of an account's page.
type usersData struct {
	// Users are the accounts, by name.
	Users []userView
	// Form is what the form shows: the values typed (after an error) or
	// the account's.
	Form userForm
	// Roles are the roles to choose from.
	Roles []option
	// Error says why the form was refused, Field which field it was.
	Error, Field string
	// OneTime is the one-time password just set, shown once.
	OneTime *oneTime
}

// userView is an account in the list.
type userView struct {
	Name, DisplayName, Role, Departments string
	Link                                 string
	Disabled, MustChange                 bool
	Updated, UpdatedBy                   string
}

// userForm is the form of an account.
type userForm struct {
	Name, DisplayName, Departments string
	Role                           accounts.Role
	Disabled                       bool
	// Exists says the form changes the account called Name.
	Exists bool
}

// oneTime is a one-time password set for an account.
type oneTime struct {
	Name, Password string
}

// roleLabels name the roles in Chinese.
var roleLabels = map[accounts.Role]string{accounts.RoleAgent: "坐席", accounts.RoleSupervisor: "主管",
	accounts.RoleOps: "运维", accounts.RoleAdmin: "管理员"}

// departmentSeparators split the departments typed in one box.
const departmentSeparators = "、,，;；\n"

// splitDepartments are the departments typed in one box, separated by
// 、 or commas or semicolons (half- or full-width) or lines; the accounts'
// rules trim each.
func splitDepartments(s string) []string {
	if strings.TrimSpace(s) == "" {
		return []string{}
	}
	return strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(departmentSeparators, r) })
}

// mountAdmin registers the accounts pages behind RequirePage and the
// admin check, the posts also behind CheckCSRF.
func (p *Pages) mountAdmin(app fiber.Router) {
	admin := func(h fiber.Handler) []fiber.Handler { return []fiber.Handler{p.d.RequirePage, p.requireAdmin, h} }
	post := func(h fiber.Handler) []fiber.Handler {
		return []fiber.Handler{p.d.RequirePage, p.requireAdmin, p.d.CheckCSRF, h}
	}
	app.Get(pathUsers, admin(p.users)...)
	app.Post(pathUsers, post(p.createUser)...)
	app.Get(pathUsers+"/:name", admin(p.user)...)
	app.Post(pathUsers+"/:name", post(p.changeUser)...)
	app.Post(pathUsers+"/:name/password", post(p.resetPassword)...)
}

// requireAdmin answers anyone but an admin the page that does not exist.
func (p *Pages) requireAdmin(c *fiber.Ctx) error {
	if httpapi.PrincipalOf(c).Role != httpapi.RoleAdmin {
		return p.render(c, fiber.StatusNotFound, "notfound", "页面不存在", "", "", nil)
	}
	return c.Next()
}

// renderUsers renders the accounts page with the form and flash.
func (p *Pages) renderUsers(c *fiber.Ctx, status int, data usersData, flash string) error {
	for _, a := range p.d.Admin.Accounts() {
		data.Users = append(data.Users, userView{Name: a.Name, DisplayName: a.DisplayName, Role: roleLabel(a.Role),
			Departments: strings.Join(a.Departments, "、"), Link: userLink(a.Name), Disabled: a.Disabled,
			MustChange: a.MustChangePassword, Updated: when(a.UpdatedAt), UpdatedBy: a.UpdatedBy})
	}
	data.Roles = roleOptions(data.Form.Role)
	return p.render(c, status, "users", "账号管理", "users", flash, data)
}

// renderUser renders an account's page with the form and flash.
func (p *Pages) renderUser(c *fiber.Ctx, status int, data usersData, flash string) error {
	data.Roles = roleOptions(data.Form.Role)
	return p.render(c, status, "user", "账号 "+data.Form.Name, "users", flash, data)
}

// roleLabel names a role; an unknown one by itself.
func roleLabel(r accounts.Role) string {
	if l, ok := roleLabels[r]; ok {
		return l
	}
	return string(r)
}

// roleOptions are the roles to choose from, chosen selected.
func roleOptions(chosen accounts.Role) []option {
	out := make([]option, 0, len(accounts.Roles))
	for _, r := range accounts.Roles {
		out = append(out, option{Value: string(r), Label: roleLabel(r), Selected: r == chosen})
	}
	return out
}

// userLink is the address of an account's page.
func userLink(name string) string { return pathUsers + "/" + url.PathEscape(name) }

// users shows the accounts and the form that creates one.
func (p *Pages) users(c *fiber.Ctx) error {
	flash := ""
	if name := c.Query("saved"); name != "" {
		flash = "已保存账号“" + name + "”"
	}
	return p.renderUsers(c, fiber.StatusOK, usersData{Form: userForm{Role: accounts.RoleAgent}}, flash)
}

// createUser creates the account the form describes with a one-time
// password, shown once on the answer, to be changed at the first sign-in;
// the form again with the reason when it breaks a rule.
func (p *Pages) createUser(c *fiber.Ctx) error {
	form := userForm{Name: strings.TrimSpace(c.FormValue("name")), DisplayName: c.FormValue("display_name"),
		Departments: c.FormValue("departments"), Role: accounts.Role(c.FormValue("role"))}
	password := accounts.OneTimePassword(form.Name)
	spec := accounts.Spec{Name: form.Name, DisplayName: form.DisplayName, Role: form.Role,
		Departments: splitDepartments(form.Departments), Password: password}
	a, err := p.d.Admin.CreateAccount(c.UserContext(), spec, httpapi.PrincipalOf(c).Name)
	if err != nil {
		r := p.d.Admin.Refusal(form.Name, err)
		return p.renderUsers(c, r.Status, usersData{Form: form, Error: r.Message, Field: r.Field}, "")
	}
	return p.renderUsers(c, fiber.StatusCreated, usersData{Form: userForm{Role: accounts.RoleAgent}, OneTime: &oneTime{Name: a.Name, Password: password}},
		"已创建账号“"+a.Name+"”")
}

// user shows an account's form and its password reset.
func (p *Pages) user(c *fiber.Ctx) error {
	a, ok := p.d.Admin.Account(c.Params("name"))
	if !ok {
		return p.render(c, fiber.StatusNotFound, "notfound", "账号不存在", "users", "", nil)
	}
	return p.renderUser(c, fiber.StatusOK, usersData{Form: formOf(a)}, "")
}

// formOf is the form of account a.
func formOf(a accounts.Profile) userForm {
	return userForm{Name: a.Name, DisplayName: a.DisplayName, Departments: strings.Join(a.Departments, "、"), Role: a.Role,
		Disabled: a.Disabled, Exists: true}
}

// changeUser saves an account's display name, role, departments and
// state: 303 to the accounts page; the form again with the reason when
// the change breaks a rule.
func (p *Pages) changeUser(c *fiber.Ctx) error {
	name := strings.Clone(c.Params("name")) // fiber reuses the buffer after the handler
	form := userForm{Name: name, DisplayName: c.FormValue("display_name"), Departments: c.FormValue("departments"),
		Role: accounts.Role(c.FormValue("role")), Disabled: c.FormValue("disabled") == "yes", Exists: true}
	deps := splitDepartments(form.Departments)
	patch := accounts.Patch{DisplayName: &form.DisplayName, Role: &form.Role, Departments: &deps, Disabled: &form.Disabled}
	if _, err := p.d.Admin.ChangeAccount(c.UserContext(), name, patch, httpapi.PrincipalOf(c).Name); err != nil {
		r := p.d.Admin.Refusal(name, err)
		return p.renderUser(c, r.Status, usersData{Form: form, Error: r.Message, Field: r.Field}, "")
	}
	return c.Redirect(pathUsers+"?"+url.Values{"saved": {name}}.Encode(), fiber.StatusSeeOther)
}

// resetPassword sets a one-time password of an account, shown once on
// the answer, to be changed at the next sign-in; the account's sessions
// end.
func (p *Pages) resetPassword(c *fiber.Ctx) error {
	name := strings.Clone(c.Params("name")) // fiber reuses the buffer after the handler
	password := accounts.OneTimePassword(name)
	a, err := p.d.Admin.ChangeAccount(c.UserContext(), name, accounts.Patch{Password: &password}, httpapi.PrincipalOf(c).Name)
	if err != nil {
		r := p.d.Admin.Refusal(name, err)
		if cur, ok := p.d.Admin.Account(name); ok {
			return p.renderUser(c, r.Status, usersData{Form: formOf(cur), Error: r.Message}, "")
		}
		return p.render(c, r.Status, "notfound", "账号不存在", "users", r.Message, nil)
	}
	return p.renderUser(c, fiber.StatusOK, usersData{Form: formOf(a.Profile), OneTime: &oneTime{Name: name, Password: password}},
		"已重置账号“"+name+"”的密码")
}
