package httpapi

import (
	"context"
	"errors"

	"github.com/gofiber/fiber/v2"
	"go.uber.org/zap"

	"github.com/tousu/tousu/services/privacy"
)

// The admin API of customers' personal-information rights.
const (
	// PathAdminCustomers answers GET with everything held about the
	// customer its query names (查阅、复制).
	PathAdminCustomers = "/api/v1/admin/customers"
	// PathAdminErase erases, on POST, every case of the customer its
	// body names (删除).
	PathAdminErase = PathAdminCustomers + "/erase"
)

// Privacy serves the admin API of customers' personal-information
// rights, for admin tokens: the export and the erasure of a customer's
// cases (services/privacy).
type Privacy struct {
	service *privacy.Service
	auth    *Authenticator
	logger  *zap.Logger
}

// NewPrivacy returns the privacy API over service; the service audits
// every request in its log.
func NewPrivacy(service *privacy.Service, auth *Authenticator, logger *zap.Logger) *Privacy {
	return &Privacy{service: service, auth: auth, logger: logger}
}

// Mount registers GET PathAdminCustomers and POST PathAdminErase, for
// admin tokens only.
func (p *Privacy) Mount(app fiber.Router) {
	admin := p.auth.Require(func(r Role) bool { return r == RoleAdmin })
	app.Get(PathAdminCustomers, admin, p.export)
	app.Post(PathAdminErase, admin, p.erase)
}

// EraseRequest is the body of POST PathAdminErase: one selector of the
// customer and the reason of the erasure (the request's date and how it
// came), which the audit and the cases' history keep.
type EraseRequest struct {
	Phone     string `json:"phone,omitempty"`
	Email     string `json:"email,omitempty"`
	IDNumber  string `json:"id_number,omitempty"`
	Reference string `json:"reference,omitempty"`
	Reason    string `json:"reason"`
}

// Selector is the customer the request names; a request that names none,
// or more than one way, gives a selector whose Check fails.
func (r EraseRequest) Selector() privacy.Selector {
	var sel privacy.Selector
	n := 0
	for kind, v := range map[string]string{privacy.ByPhone: r.Phone, privacy.ByEmail: r.Email, privacy.ByIDNumber: r.IDNumber, privacy.ByReference: r.Reference} {
		if v != "" {
			sel, n = privacy.Selector{Kind: kind, Value: v}, n+1
		}
	}
	if n != 1 {
		return privacy.Selector{}
	}
	return sel
}

// export answers 200 with the privacy.Export of the customer the query
// names (phone, email, id_number or reference: exactly one), 422 for a
// query that names none or several, 503 when the index cannot be read.
func (p *Privacy) export(c *fiber.Ctx) error {
	req := EraseRequest{Phone: c.Query(privacy.ByPhone), Email: c.Query(privacy.ByEmail), IDNumber: c.Query(privacy.ByIDNumber), Reference: c.Query(privacy.ByReference)}
	ex, err := p.service.Export(c.UserContext(), req.Selector(), PrincipalOf(c).Name)
	if err != nil {
		return p.refuse(c, err)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(ex)
}

// erase answers 202 with the privacy.Erased of the customer the body
// names (EraseRequest): the routers erase the cases within seconds. 400
// for a body that is not an EraseRequest, 422 for one without exactly
// one selector or without a reason, 503 when the index or the broker
// failed (the request may be repeated: a case is erased once).
func (p *Privacy) erase(c *fiber.Ctx) error {
	var req EraseRequest
	if ok, err := decodeAdminBody(c, &req, "phone、email、id_number、reference、reason"); !ok {
		return err
	}
	out, err := p.service.EraseCustomer(c.UserContext(), req.Selector(), req.Reason, PrincipalOf(c).Name)
	if err != nil {
		return p.refuse(c, err)
	}
	return c.Status(fiber.StatusAccepted).JSON(out)
}

// refuse answers an error of the service: 422 for a privacy.RequestError,
// 503 otherwise (logged here).
func (p *Privacy) refuse(c *fiber.Ctx, err error) error {
	var re privacy.RequestError
	if errors.As(err, &re) {
		return fail(c, fiber.StatusUnprocessableEntity, apiError{Error: "invalid request", Code: "invalid_request", Message: re.Error()})
	}
	if !errors.Is(err, context.Canceled) {
		p.logger.Error("privacy request failed", zap.Error(err))
	}
	return fail(c, fiber.StatusServiceUnavailable, apiError{Error: "the index or the broker is unavailable, try again", Code: "unavailable",
		Message: "暂时无法完成，请稍后重试（重复提交是安全的）"})
}
