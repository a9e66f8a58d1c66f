package normalize

import "github.com/tousu/tousu/ingest"

// ReplyReason explains a thread on the case.
func ReplyReason(c Complaint) string {
	t := c.Thread
	what := "quotes its reference " + t.Ref + " in the subject"
	if t.By != ThreadBySubject {
		what = "names its mail <" + t.Ref + "> in the " + t.By + " header"
	}
	return "an e-mail from " + senderOf(c) + ", not the case's customer, " + what
}

// senderOf names the sender of an e-mail complaint for an explanation:
// their address, or their masked phone.
func senderOf(c Complaint) string {
	if c.Customer.Email != "" {
		return c.Customer.Email
	}
	if c.Customer.Phone != "" {
		return ingest.MaskPhone(c.Customer.Phone)
	}
	return "another sender"
}
