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
	if ok, err := decodeAdminBody(c, &spec); !ok {
		return err
	}
	who := PrincipalOf(c).Name
	a, err := accounts.Create(spec, who, d.now())
	if err != nil {
		return d.refuse(c, spec.Name, err)
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), adminTimeout)
	defer cancel()
	if err := d.store.Create(ctx, a); err != nil {
		return d.refuse(c, a.Name, err)
	}
	d.logger.Info("account created", zap.String("account", a.Name), zap.String("role", string(a.Role)),
		zap.Strings("departments", a.Departments), zap.String("by", who))
	c.Location(PathAdminUsers + "/" + a.Name)
	return c.Status(fiber.StatusCreated).JSON(a.Profile)
}

// list answers every account, by name, without password hashes.
func (d *Admin) list(c *fiber.Ctx) error {
	all := d.store.List()
	users := make([]accounts.Profile, len(all))
	for i, a := range all {
		users[i] = a.Profile
	}
	return c.JSON(fiber.Map{"users": users})
}

// get answers one account, or 404.
func (d *Admin) get(c *fiber.Ctx) error {
	a, ok := d.store.Get(c.Params("name"))
	if !ok {
		return d.refuse(c, c.Params("name"), accounts.ErrNotFound)
	}
	return c.JSON(a.Profile)
}

// patch changes an account's display name, role, departments, password or
// disabled flag: 200 with the account, 400, 404 or 422.
func (d *Admin) patch(c *fiber.Ctx) error {
	name := c.Params("name")
	var p accounts.Patch
	if ok, err := decodeAdminBody(c, &p); !ok {
		return err
	}
	who := PrincipalOf(c).Name
	ctx, cancel := context.WithTimeout(c.UserContext(), adminTimeout)
	defer cancel()
	a, err := d.store.Update(ctx, name, func(cur accounts.Account) (accounts.Account, error) {
		return accounts.Apply(cur, p, who, d.now())
	})
	if err != nil {
		return d.refuse(c, name, err)
	}
	d.logger.Info("account changed", zap.String("account", name), zap.Strings("fields", p.Fields()),
		zap.String("role", string(a.Role)), zap.Bool("disabled", a.Disabled), zap.String("by", who))
	return c.JSON(a.Profile)
}

// decodeAdminBody reads the JSON body into v, refusing unknown fields; it
// reports whether it could, and otherwise answers the request.
func decodeAdminBody(c *fiber.Ctx, v any) (bool, error) {
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
		refusal["message"] = fmt.Sprintf("不认识的字段 %s（可用字段：name、display_name、role、departments、password、disabled）", field)
	}
	return false, c.Status(fiber.StatusBadRequest).JSON(refusal)
}

// jsonKinds say in Chinese what a JSON value of a Go kind is.
var jsonKinds = map[reflect.Kind]string{reflect.String: "字符串", reflect.Slice: "字符串数组（如 [\"客服部\"]）", reflect.Bool: "true 或 false"}

// refuse answers an error of the accounts: 422 for a field that breaks a
// rule, 409 for a name that is taken, 404 for an unknown account, 503
// when the accounts cannot be written or read back now.
func (d *Admin) refuse(c *fiber.Ctx, name string, err error) error {
	if fe, ok := accounts.IsFieldError(err); ok {
		body := fiber.Map{"error": fe.Code, "message": fe.Message}
		if fe.Field != "" {
			body["field"] = fe.Field
		}
		return c.Status(fiber.StatusUnprocessableEntity).JSON(body)
	}
	switch {
	case errors.Is(err, accounts.ErrExists):
		return c.Status(fiber.StatusConflict).JSON(fiber.Map{"error": "name_taken", "field": "name", "message": fmt.Sprintf("账号名“%s”已被使用", name)})
	case errors.Is(err, accounts.ErrNotFound):
		return c.Status(fiber.StatusNotFound).JSON(fiber.Map{"error": "no_such_account", "message": fmt.Sprintf("没有名为“%s”的账号", name)})
	case errors.Is(err, accounts.ErrNotVisible):
		d.logger.Warn("account change not read back in time", zap.String("account", name), zap.Error(err))
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"error": "not_visible_yet", "message": "修改已提交，但尚未生效，请稍后刷新查看"})
	}
	d.logger.Error("account change failed", zap.String("account", name), zap.Error(err))
	return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"error": "unavailable", "message": "账号存储暂时不可用，请稍后重试"})
}
