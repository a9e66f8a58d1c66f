package console

// The reply form of the case page: an agent answers the customer from the
// case (the action reply, sent like every other action through
// httpapi.CaseActions.Submit); the router writes it to the customer by
// e-mail or text message and puts it on the case's timeline.

import "github.com/tousu/tousu/router"

// replyView is the case page's reply form: how the reply reaches the
// customer.
type replyView struct {
	// Medium is 电子邮件 or 短信; Email says the reply is a mail whose
	// subject carries the reference.
	Medium string
	Email  bool
}

// replyForm is the reply form of case c (not redacted: the masked contacts
// of the page are no address), nil when the customer has neither an
// e-mail address nor a mobile number.
func replyForm(c router.Case) *replyView {
	switch m, ok := router.ReplyMedium(c); {
	case !ok:
		return nil
	case m == router.MediumEmail:
		return &replyView{Medium: "电子邮件", Email: true}
	default:
		return &replyView{Medium: "短信"}
	}
}
