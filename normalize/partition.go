package normalize

import "github.com/tousu/tousu/ingest"

// PartitionKey is the key a complaint goes to complaints.normalized with:
// its customer's, or, for a reply from another address to an open case,
// the case's customer's, so that the router owning that case decides it.
func PartitionKey(c Complaint) string {
	if t := c.Thread; t != nil && !t.State.Finished() {
		return t.Customer
	}
	return c.Customer.Key
}

// ReplyReason explains on the case why a complaint with a Thread belongs
// to it: who sent it and which clue matched. c.Thread must be set.
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
