package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.uber.org/zap"

	"github.com/tousu/tousu/services/accounts"
)

// PathAdminUsers is the admin API's collection of accounts.
const PathAdminUsers = "/api/v1/admin/users"

// MaxAdminBody bounds the body of an admin API request, in bytes.
const MaxAdminBody = 16 << 10

// adminTimeout bounds a change of an account: the broker's acknowledgement
// and the follower reading it back.
const adminTimeout = 15 * time.Second

// Admin serves the admin API: the console's accounts, for admin tokens.
type Admin struct {
	store  *accounts.Store
	auth   *Authenticator
	logger *zap.Logger
	now    func() time.Time
}

// NewAdmin returns the admin API over store; it logs every change (who,
// which account, which fields, never a password) to logger.
func NewAdmin(store *accounts.Store, auth *Authenticator, logger *zap.Logger) *Admin {
	return &Admin{store: store, auth: auth, logger: logger, now: time.Now}
}

// Mount registers the admin API, for admin tokens only: POST and GET
// PathAdminUsers, GET and PATCH PathAdminUsers/{name}.
func (d *Admin) Mount(app fiber.Router) {
	admin := d.auth.Require(func(r Role) bool { return r == RoleAdmin })
	app.Post(PathAdminUsers, admin, d.create)
	app.Get(PathAdminUsers, admin, d.list)
	app.Get(PathAdminUsers+"/:name", admin, d.get)
	app.Patch(PathAdminUsers+"/:name", admin, d.patch)
}

// create answers 201 with the new account, 400 for a body that is not
// the JSON of one, 409 for a name that is taken, 422 for a field that
// breaks a rule.
func (d *Admin) create(c *fiber.Ctx) error {
	var spec accounts.Spec
	if ok, err := decodeAdminBody(c, &spec, accountFields); !ok {
		return err
	}
	a, err := d.CreateAccount(c.UserContext(), spec, PrincipalOf(c).Name)
	if err != nil {
		return d.refuse(c, spec.Name, err)
	}
	c.Location(PathAdminUsers + "/" + a.Name)
	return c.Status(fiber.StatusCreated).JSON(a.Profile)
}

// CreateAccount creates the account spec describes, by who, and logs it
// (who, which account, its role and departments; never the password):
// the admin API's and the accounts page's one way to. Its errors are
// those of accounts.Create and Store.Create; Refusal says them.
func (d *Admin) CreateAccount(ctx context.Context, spec accounts.Spec, who string) (accounts.Account, error) {
	a, err := accounts.Create(spec, who, d.now())
	if err != nil {
		return a, err
	}
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	if err := d.store.Create(ctx, a); err != nil {
		return a, err
	}
	d.logger.Info("account created", zap.String("account", a.Name), zap.String("role", string(a.Role)),
		zap.Strings("departments", a.Departments), zap.String("by", who))
	return a, nil
}

// Accounts are every account, by name, without password hashes.
func (d *Admin) Accounts() []accounts.Profile {
	all := d.store.List()
	users := make([]accounts.Profile, len(all))
	for i, a := range all {
		users[i] = a.Profile
	}
	return users
}

// Account is the account called name, without its password hash.
func (d *Admin) Account(name string) (accounts.Profile, bool) {
	a, ok := d.store.Get(name)
	return a.Profile, ok
}

// list answers every account, by name, without password hashes.
func (d *Admin) list(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"users": d.Accounts()})
}

// get answers one account, or 404.
func (d *Admin) get(c *fiber.Ctx) error {
	a, ok := d.Account(c.Params("name"))
	if !ok {
		return d.refuse(c, c.Params("name"), accounts.ErrNotFound)
	}
	return c.JSON(a)
}

// patch changes an account's display name, role, departments, password or
// disabled flag: 200 with the account, 400, 404 or 422.
func (d *Admin) patch(c *fiber.Ctx) error {
	name := strings.Clone(c.Params("name")) // fiber reuses the buffer after the handler; the name is logged and stored
	var p accounts.Patch
	if ok, err := decodeAdminBody(c, &p, accountFields); !ok {
		return err
	}
	a, err := d.ChangeAccount(c.UserContext(), name, p, PrincipalOf(c).Name)
	if err != nil {
		return d.refuse(c, name, err)
	}
	return c.JSON(a.Profile)
}

// ChangeAccount applies p to the account called name, by who, and logs
// it (who, which account, which fields; never a password): the admin
// API's and the accounts page's one way to. Its errors are those of
// accounts.Apply and Store.Update; Refusal says them.
func (d *Admin) ChangeAccount(ctx context.Context, name string, p accounts.Patch, who string) (accounts.Account, error) {
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	a, err := d.store.Update(ctx, name, func(cur accounts.Account) (accounts.Account, error) {
		return accounts.Apply(cur, p, who, d.now())
	})
	if err != nil {
		return a, err
	}
	d.logger.Info("account changed", zap.String("account", name), zap.Strings("fields", p.Fields()),
		zap.String("role", string(a.Role)), zap.Bool("disabled", a.Disabled), zap.String("by", who))
	return a, nil
}

// accountFields are the fields of an account's JSON, for the refusal of
// an unknown one.
const accountFields = "name、display_name、role、departments、password、disabled"

// decodeAdminBody reads the JSON body into v, refusing unknown fields (a
// refusal lists fields, the known ones); it reports whether it could,
// and otherwise answers the request.
func decodeAdminBody(c *fiber.Ctx, v any, fields string) (bool, error) {
	body := c.Body()
	if len(body) > MaxAdminBody {
		return false, c.Status(fiber.StatusRequestEntityTooLarge).JSON(fiber.Map{"error": "body_too_large", "message": fmt.Sprintf("请求内容过大，最多 %d 字节", MaxAdminBody)})
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("more than one JSON value")
	}
	if err == nil {
		return true, nil
	}
	refusal := fiber.Map{"error": "invalid_body", "message": "请求内容不是有效的 JSON 对象"}
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field != "":
		refusal["field"] = typeErr.Field
		refusal["message"] = fmt.Sprintf("字段 %s 的类型不对", typeErr.Field)
		if kind, ok := jsonKinds[typeErr.Type.Kind()]; ok {
			refusal["message"] = fmt.Sprintf("字段 %s 的类型不对：应为%s", typeErr.Field, kind)
		}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		refusal["field"] = field
		refusal["message"] = fmt.Sprintf("不认识的字段 %s（可用字段：%s）", field, fields)
	}
	return false, c.Status(fiber.StatusBadRequest).JSON(refusal)
}

// jsonKinds say in Chinese what a JSON value of a Go kind is.
var jsonKinds = map[reflect.Kind]string{reflect.String: "字符串", reflect.Slice: "字符串数组（如 [\"客服部\"]）", reflect.Bool: "true 或 false"}

// AccountRefusal is why a change of an account was refused: the HTTP
// status, a stable code, the message in Chinese and the field at fault,
// when one is.
type AccountRefusal struct {
	Status               int
	Code, Message, Field string
}

// Refusal says an error of CreateAccount or ChangeAccount of the account
// called name: 422 for a field that breaks a rule, 409 for a name that is
// taken, 404 for an unknown account, 503 when the accounts cannot be
// written or read back now. It logs what is not the person's fault.
func (d *Admin) Refusal(name string, err error) AccountRefusal {
	if fe, ok := accounts.IsFieldError(err); ok {
		return AccountRefusal{Status: fiber.StatusUnprocessableEntity, Code: fe.Code, Message: fe.Message, Field: fe.Field}
	}
	switch {
	case errors.Is(err, accounts.ErrExists):
		return AccountRefusal{Status: fiber.StatusConflict, Code: "name_taken", Field: "name", Message: fmt.Sprintf("账号名“%s”已被使用", name)}
	case errors.Is(err, accounts.ErrNotFound):
		return AccountRefusal{Status: fiber.StatusNotFound, Code: "no_such_account", Message: fmt.Sprintf("没有名为“%s”的账号", name)}
	case errors.Is(err, accounts.ErrNotVisible):
		d.logger.Warn("account change not read back in time", zap.String("account", name), zap.Error(err))
		return AccountRefusal{Status: fiber.StatusServiceUnavailable, Code: "not_visible_yet", Message: "修改已提交，但尚未生效，请稍后刷新查看"}
	}
	d.logger.Error("account change failed", zap.String("account", name), zap.Error(err))
	return AccountRefusal{Status: fiber.StatusServiceUnavailable, Code: "unavailable", Message: "账号存储暂时不可用，请稍后重试"}
}

// refuse answers an error of the accounts as Refusal says it.
func (d *Admin) refuse(c *fiber.Ctx, name string, err error) error {
	r := d.Refusal(name, err)
	body := fiber.Map{"error": r.Code, "message": r.Message}
	if r.Field != "" {
		body["field"] = r.Field
	}
	return c.Status(r.Status).JSON(body)
}
