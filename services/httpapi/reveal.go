package httpapi

// This file is the reveal of one customer contact of a case to a person
// who sees contacts masked (Principal.MayReveal), audited on the case: for
// the API (POST /api/v1/cases/:id/reveal) and the console's case page.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/gofiber/fiber/v2"
	"go.uber.org/zap"

	"github.com/tousu/tousu/router"
)

// Contact is the customer contact of case c that field names
// (router.RevealFields); empty when the customer has none.
func Contact(c router.Case, field string) string {
	switch field {
	case router.RevealPhone:
		return c.Customer.Phone
	case router.RevealEmail:
		return c.Customer.Email
	}
	return ""
}

// Revealable are the contacts of case c (as stored, not redacted) that p
// may reveal: those its customer has, when p may reveal them.
func Revealable(c router.Case, p Principal) []string {
	if !p.MayReveal(c) {
		return nil
	}
	var out []string
	for _, f := range []string{router.RevealPhone, router.RevealEmail} {
		if Contact(c, f) != "" {
			out = append(out, f)
		}
	}
	return out
}

// Reveal returns the contact field of case cs for p once the audit of it,
// a reveal action on the case, is with the broker: the one path of every
// reveal. It logs who, which case and which contact, never the value, to
// logger. A person who sees contacts (a supervisor) gets the value as
// every answer shows it to them, without an audit. An error is an
// *ActionError: 404 when p may not see cs's contacts, 422 for a contact the customer has not, 503 when the audit
// could not be sent (and then nothing is shown).
func (acts *CaseActions) Reveal(ctx context.Context, p Principal, cs router.Case, field string, logger *zap.Logger) (string, error) {
	if !p.MayReveal(cs) && !(p.SeesContacts() && p.MaySee(cs)) {
		return "", &ActionError{Status: fiber.StatusNotFound, body: errNoCase}
	}
	value := Contact(cs, field)
	if value == "" {
		label := router.RevealFields[field]
		if label == "" {
			label = "此项联系方式"
		}
		return "", &ActionError{Status: fiber.StatusUnprocessableEntity, body: apiError{Error: fmt.Sprintf("the customer has no %q to reveal", field),
			Code: "no_contact", Field: "field", Message: "该客户没有可查看的" + label + "（可查看：phone 电话号码、email 电子邮箱）"}}
	}
	if !p.MayReveal(cs) { // sees every contact anyway: nothing to audit
		return value, nil
	}
	// No idempotency key: each time a value is shown is a reveal.
	if _, err := acts.submit(ctx, p, cs, ActionRequest{Kind: router.ActionReveal, Field: field}, "", func(string) bool { return false }); err != nil {
		logger.Error("reveal not audited, not shown", zap.String("by", p.Name), zap.String("case", cs.ID), zap.String("field", field), zap.Error(err))
		return "", err
	}
	logger.Info("contact revealed", zap.String("by", p.Name), zap.String("case", cs.ID), zap.String("field", field))
	return value, nil
}

// reveal answers POST /api/v1/cases/:id/reveal with {"field": "phone"}:
// 200 with the value, or the errors of Reveal.
func (k *Console) reveal(c *fiber.Ctx) error {
	var req struct {
		Field string `json:"field"`
	}
	if err := json.Unmarshal(c.Body(), &req); err != nil {
		return fail(c, fiber.StatusBadRequest, apiError{Error: "the body is not a JSON reveal", Code: "bad_request", Message: "请求内容不是有效的 JSON，如 {\"field\":\"phone\"}"})
	}
	cs, ok, err := k.caseOf(c)
	if !ok {
		return err
	}
	value, err := k.acts.Reveal(c.UserContext(), PrincipalOf(c), cs, req.Field, k.logger)
	var ae *ActionError
	if errors.As(err, &ae) {
		return fail(c, ae.Status, ae.body)
	}
	return c.JSON(fiber.Map{"case": cs.ID, "field": req.Field, "value": value})
}
