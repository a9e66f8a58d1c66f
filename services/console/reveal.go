package console

// Reveal (POST /console/cases/:id/reveal): an agent, who sees customers'
// contacts masked, is shown one contact of a case they may work, audited
// on its timeline and in the log (httpapi.CaseActions.Reveal, the API's
// path).

import (
	"errors"

	"github.com/gofiber/fiber/v2"

	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/httpapi"
)

// revealView is a contact of a case's customer the person may reveal.
type revealView struct {
	Field, Label string
}

// revealable are the contacts of case c (not redacted) that me may
// reveal, with their names.
func revealable(c router.Case, me httpapi.Principal) []revealView {
	var out []revealView
	for _, f := range httpapi.Revealable(c, me) {
		out = append(out, revealView{Field: f, Label: router.RevealFields[f]})
	}
	return out
}

// reveal shows the person one contact of the case, once the audit of it
// is on its way to the case: the case page with the value; the case page
// with the reason when the reveal was refused (404 for a case the person
// may not see, 422 for a contact the customer has not, 503 when the audit
// could not be sent, and then the value is not shown). A person who sees
// contacts needs no reveal: back to the case page.
func (p *Pages) reveal(c *fiber.Ctx) error {
	cs, ok, err := p.viewable(c)
	if !ok {
		return err
	}
	me := httpapi.PrincipalOf(c)
	if me.SeesContacts() {
		return c.Redirect(caseLink(cs.ID), fiber.StatusSeeOther)
	}
	field := c.FormValue("field")
	value, err := p.d.Actions.Reveal(c.UserContext(), me, cs, field, p.d.Logger)
	var ae *httpapi.ActionError
	switch {
	case errors.As(err, &ae) && ae.Status == fiber.StatusNotFound:
		return p.render(c, fiber.StatusNotFound, "notfound", "工单不存在", "", "", nil)
	case errors.As(err, &ae):
		return p.renderCase(c, ae.Status, cs, "未显示："+ae.Message(), "")
	case err != nil:
		return err
	}
	return p.renderCase(c, fiber.StatusOK, cs, "客户"+router.RevealFields[field]+"："+value+"（本次查看已记入处理记录）", "")
}
