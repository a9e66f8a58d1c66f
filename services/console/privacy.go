package console

// The privacy page (GET /console/admin/privacy), for admins: find a
// customer's cases by phone, e-mail, ID card number or reference, download
// everything held about them as JSON (查阅、复制, GET
// /console/admin/privacy/export) and erase it (删除, POST
// /console/admin/privacy/erase) after a confirmation that lists the
// cases. It goes through privacy.Service, as the admin API does, and is
// audited the same way.

import (
	"errors"
	"net/url"

	"github.com/gofiber/fiber/v2"
	"go.uber.org/zap"

	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/httpapi"
	"github.com/tousu/tousu/services/privacy"
)

// pathPrivacy is the privacy page.
const pathPrivacy = Path + "/admin/privacy"

// mountPrivacy registers the privacy pages behind RequirePage and
// requireAdmin, the erasure also behind CheckCSRF.
func (p *Pages) mountPrivacy(app fiber.Router) {
	app.Get(pathPrivacy, p.d.RequirePage, p.requireAdmin, p.privacy)
	app.Get(pathPrivacy+"/export", p.d.RequirePage, p.requireAdmin, p.privacyExport)
	app.Post(pathPrivacy+"/erase", p.d.RequirePage, p.requireAdmin, p.d.CheckCSRF, p.privacyErase)
}

// privacyKinds are the selectors the page offers, in order.
var privacyKinds = []string{privacy.ByPhone, privacy.ByEmail, privacy.ByIDNumber, privacy.ByReference}

// kindOption is an option of the selector's kind.
type kindOption struct {
	Value, Label string
	Selected     bool
}

// privacyCase is a found case as the page lists it.
type privacyCase struct {
	ID, Link, Received, Status, Category, Channel string
}

// privacyData is the privacy page's data.
type privacyData struct {
	Kinds  []kindOption
	Kind   string
	Value  string
	Reason string
	// Searched says a customer was asked for; Cases are theirs.
	Searched bool
	Cases    []privacyCase
	// Export is the link that downloads the export.
	Export string
	// Confirm asks to confirm the erasure of Cases; Erased is its result.
	Confirm bool
	Erased  *privacy.Erased
	Error   string
}

// privacySelector reads the selector of a request from its query or form.
func privacySelector(c *fiber.Ctx) privacy.Selector {
	kind, value := c.FormValue("kind"), c.FormValue("value")
	if c.Method() == fiber.MethodGet {
		kind, value = c.Query("kind"), c.Query("value")
	}
	return privacy.Selector{Kind: kind, Value: value}
}

// newPrivacyData is the page's data for sel.
func newPrivacyData(sel privacy.Selector) privacyData {
	d := privacyData{Kind: sel.Kind, Value: sel.Value}
	for _, k := range privacyKinds {
		d.Kinds = append(d.Kinds, kindOption{Value: k, Label: privacy.SelectorKinds[k], Selected: k == sel.Kind})
	}
	return d
}

// find fills d with the customer's cases; false when the page was
// answered (the index is unavailable).
func (p *Pages) find(c *fiber.Ctx, d *privacyData, sel privacy.Selector) (bool, error) {
	cases, err := p.d.Privacy.Find(c.UserContext(), sel)
	var re privacy.RequestError
	switch {
	case errors.As(err, &re):
		d.Error = re.Error()
		return true, nil
	case err != nil:
		return false, p.unavailable(c, "privacy: find a customer's cases", err)
	}
	d.Searched = true
	d.Export = pathPrivacy + "/export?" + url.Values{"kind": {sel.Kind}, "value": {sel.Value}}.Encode()
	for _, cs := range cases {
		d.Cases = append(d.Cases, privacyCaseOf(cs))
	}
	return true, nil
}

// privacyCaseOf is a case as the page lists it.
func privacyCaseOf(cs router.Case) privacyCase {
	return privacyCase{ID: cs.ID, Link: caseLink(cs.ID), Received: when(cs.ReceivedAt), Status: cs.Status.Label(), Category: cs.Category,
		Channel: channelLabel(cs.Channel)}
}

func (p *Pages) privacy(c *fiber.Ctx) error {
	sel := privacySelector(c)
	d := newPrivacyData(sel)
	if sel.Kind != "" || sel.Value != "" {
		if ok, err := p.find(c, &d, sel); !ok {
			return err
		}
	}
	return p.render(c, fiber.StatusOK, "privacy", "个人信息查阅与删除", "privacy", "", d)
}

// privacyExport downloads everything held about the customer as JSON.
func (p *Pages) privacyExport(c *fiber.Ctx) error {
	ex, err := p.d.Privacy.Export(c.UserContext(), privacySelector(c), httpapi.PrincipalOf(c).Name)
	var re privacy.RequestError
	switch {
	case errors.As(err, &re):
		d := newPrivacyData(privacySelector(c))
		d.Error = re.Error()
		return p.render(c, fiber.StatusUnprocessableEntity, "privacy", "个人信息查阅与删除", "privacy", "", d)
	case err != nil:
		return p.unavailable(c, "privacy: export a customer's cases", err)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="personal-information.json"`)
	return c.JSON(ex)
}

// privacyErase asks to confirm the erasure of the customer's cases, then
// erases them.
func (p *Pages) privacyErase(c *fiber.Ctx) error {
	sel := privacySelector(c)
	d := newPrivacyData(sel)
	d.Reason = c.FormValue("reason")
	if c.FormValue("confirm") == "" {
		if ok, err := p.find(c, &d, sel); !ok {
			return err
		}
		d.Confirm = d.Error == "" && len(d.Cases) > 0
		return p.render(c, fiber.StatusOK, "privacy", "确认删除个人信息", "privacy", "", d)
	}
	out, err := p.d.Privacy.EraseCustomer(c.UserContext(), sel, d.Reason, httpapi.PrincipalOf(c).Name)
	var re privacy.RequestError
	switch {
	case errors.As(err, &re):
		d.Error = re.Error()
		if ok, err := p.find(c, &d, sel); !ok {
			return err
		}
		d.Confirm = len(d.Cases) > 0
		return p.render(c, fiber.StatusUnprocessableEntity, "privacy", "确认删除个人信息", "privacy", "", d)
	case err != nil:
		p.d.Logger.Error("privacy: erase a customer's cases", zap.Error(err))
		d.Error = "删除未能全部提交，请稍后重试（重复提交是安全的）"
	}
	d.Erased = &out
	return p.render(c, fiber.StatusOK, "privacy", "个人信息已删除", "privacy", "", d)
}
