package router

import "time"

// OutboxVersion is the payload version of an Outgoing message.
const OutboxVersion = 1

// MessageKind is why tousu writes to a customer.
type MessageKind string

// The kinds of message tousu sends to customers.
const (
	// MessageAck acknowledges a new case (受理回执): its reference, what
	// happens next, the main deadline and the status page link.
	MessageAck MessageKind = "ack"
	// MessageJoined tells the customer that a duplicate or repeat was
	// added to their open case (已并入受理编号…): at most one per case per day.
	MessageJoined MessageKind = "joined"
	// MessageReply is an agent's reply written from the case.
	MessageReply MessageKind = "reply"
	// MessageResult tells the customer the result of a resolved case.
	MessageResult MessageKind = "result"
	// MessageSurvey asks the customer for the follow-up visit (回访): a
	// link to the satisfaction page with a signed token.
	MessageSurvey MessageKind = "survey"
)

// Medium is how a message reaches the customer.
type Medium string

// The media tousu sends on.
const (
	MediumEmail Medium = "email"
	MediumSMS   Medium = "sms"
)

// Outgoing is one message to a customer, the payload of the outbox topic
// keyed by Case (so that the messages of a case are sent in order). The
// router writes it when a case changes, in the same broker call as the
// changed case, so it is written once per change; a sender delivers it at
// least once and drops a redelivery by ID. It is the only record besides
// the provider's call that holds the customer's address or number (To):
// never log it unmasked.
type Outgoing struct {
	V int `json:"v"`
	// ID is the delivery id, unique per case change and kind:
	// "<case>/<kind>/<revision>" (a reply: "<case>/reply/<action id>").
	// A sender that sees an ID again does not send again.
	ID     string      `json:"id"`
	Kind   MessageKind `json:"kind"`
	Medium Medium      `json:"medium"`
	// Case, Customer (the case's customer key, which keys case.actions),
	// Reference (受理编号) and Pack (name@version) say whose message it
	// is; a sender reports the delivery back on case.actions with them.
	Case      string `json:"case"`
	Customer  string `json:"customer"`
	Reference string `json:"reference"`
	Pack      string `json:"pack,omitempty"`
	// Action is the id of the case action that caused the message (an
	// agent's reply), empty for the router's own messages.
	Action string `json:"action,omitempty"`
	// To is the e-mail address or the E.164 mobile number; ToName the
	// customer's name for the e-mail's To header.
	To     string `json:"to"`
	ToName string `json:"to_name,omitempty"`
	// Subject and Text are the rendered message (Subject for e-mail only;
	// Text is plain UTF-8 text).
	Subject string `json:"subject,omitempty"`
	Text    string `json:"text"`
	// Params are the template's named values (reference, deadline,
	// status link…), for SMS providers that send pre-approved templates
	// with parameters rather than free text.
	Params map[string]string `json:"params,omitempty"`
	// MessageID (without angle brackets) is the e-mail's Message-ID,
	// fixed by the router so that a redelivery carries the same one and
	// the customer's answer naming it finds the case; InReplyTo and
	// References thread it under the customer's mail.
	MessageID  string   `json:"message_id,omitempty"`
	InReplyTo  string   `json:"in_reply_to,omitempty"`
	References []string `json:"references,omitempty"`
	// CreatedAt is when the router wrote the message.
	CreatedAt time.Time `json:"created_at"`
}

// DeliveryState is what became of an Outgoing message.
type DeliveryState string

// The delivery states a sender reports.
const (
	// DeliverySent: the provider (the MTA, the SMS gateway) accepted it.
	DeliverySent DeliveryState = "sent"
	// DeliveryFailed: it can never be delivered (a permanent failure);
	// Action.Reason says why, in Chinese, without the address.
	DeliveryFailed DeliveryState = "failed"
)

// DeliveryAction is the case action a sender writes to case.actions
// (keyed by o.Customer) to put what became of o on the case's timeline.
// Its ID is derived from o.ID and state, so a sender that reports twice
// changes the case once. Field carries o's medium, for the timeline.
func DeliveryAction(o Outgoing, state DeliveryState, reason string, at time.Time) Action {
	return Action{V: ActionVersion, ID: "delivery/" + string(state) + "/" + o.ID, Case: o.Case, Customer: o.Customer,
		Kind: ActionDelivery, Actor: DeliveryActor, At: at, Message: o.ID, Delivery: state, Reason: reason, Field: string(o.Medium)}
}
