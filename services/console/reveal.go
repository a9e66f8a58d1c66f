package console

// Reveal (POST /console/cases/:id/reveal): an agent, who sees customers'
// contacts masked, is shown one contact of a case they may work, to call
// or write back (httpapi.Principal.MayReveal); every reveal is a reveal
// action on the case's timeline, through the actions' path
// (httpapi.CaseActions.Submit), and a line of the console's log (who,
// case, field; never the value).

import (
	"errors"
	"slices"

	"github.com/gofiber/fiber/v2"
	"go.uber.org/zap"

	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/httpapi"
)

// revealView is a contact of a case's customer the person may reveal.
type revealView struct {
	Field, Label string
}

// contact is the customer contact of c that field names; empty when the
// customer has none.
func contact(c router.Case, field string) string {
	switch field {
	case router.RevealPhone:
		return c.Customer.Phone
	case router.RevealEmail:
		return c.Customer.Email
	}
	return ""
}

// revealable are the contacts of case c (not redacted) that me may
// reveal: those its customer has, when me sees them masked.
func revealable(c router.Case, me httpapi.Principal) []revealView {
	if !me.MayReveal(c) {
		return nil
	}
	var out []revealView
	for _, f := range []string{router.RevealPhone, router.RevealEmail} {
		if contact(c, f) != "" {
			out = append(out, revealView{Field: f, Label: router.RevealFields[f]})
		}
	}
	return out
}

// reveal shows the person one contact of the case, once the audit of it
// is on its way to the case: the case page with the value; the case page
// with the reason when the reveal was refused (404 for a case the person
// may not see or reveal, 422 for a contact the customer has not, 503
// when the audit could not be sent, and then the value is not shown).
func (p *Pages) reveal(c *fiber.Ctx) error {
	cs, ok, err := p.viewable(c)
	if !ok {
		return err
	}
	me := httpapi.PrincipalOf(c)
	if me.SeesContacts() { // nothing is masked for them
		return c.Redirect(caseLink(cs.ID), fiber.StatusSeeOther)
	}
	field := c.FormValue("field")
	if !me.MayReveal(cs) {
		return p.render(c, fiber.StatusNotFound, "notfound", "工单不存在", "", "", nil)
	}
	if !slices.ContainsFunc(revealable(cs, me), func(r revealView) bool { return r.Field == field }) {
		return p.renderCase(c, fiber.StatusUnprocessableEntity, cs, "未显示：该客户没有可查看的此项联系方式", "")
	}
	// No idempotency key: each time the value is shown is a reveal.
	req := httpapi.ActionRequest{Kind: router.ActionReveal, Field: field}
	if _, err := p.d.Actions.Submit(c.UserContext(), me, cs, req, "", func(string) bool { return false }); err != nil {
		var ae *httpapi.ActionError
		if !errors.As(err, &ae) {
			return err
		}
		p.d.Logger.Error("reveal not audited, not shown", zap.String("by", me.Name), zap.String("case", cs.ID), zap.String("field", field), zap.Error(err))
		return p.renderCase(c, ae.Status, cs, "未显示："+ae.Message(), "")
	}
	p.d.Logger.Info("contact revealed", zap.String("by", me.Name), zap.String("case", cs.ID), zap.String("field", field))
	return p.renderCase(c, fiber.StatusOK, cs, "客户"+router.RevealFields[field]+"："+contact(cs, field)+"（本次查看已记入处理记录）", "")
}
