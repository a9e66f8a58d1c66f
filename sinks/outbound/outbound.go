// Package outbound delivers messages to customers (router.Outgoing, the
// payload of the outbox topic) through a provider: e-mail over SMTP and
// SMS through a provider's HTTP API. A Transport sends one message; the
// sender stage (services/stages/sender) picks the transport by the
// message's medium, retries temporary failures and reports every result
// back onto the case.
package outbound

import (
	"context"
	"errors"

	"github.com/tousu/tousu/router"
)

// ErrPermanent marks a delivery that will fail again however often it is
// retried: the provider refused the recipient, the credentials or the
// message itself. A caller reports a message whose error wraps it
// (errors.Is) as failed and retries any other error.
var ErrPermanent = errors.New("permanent delivery failure")

// Transport sends messages of one medium through one provider.
//
// Send blocks until the provider accepted the message (nil) or refused
// it, or ctx ended. A nil error means the provider took responsibility
// for it (an MTA queued it, an SMS gateway accepted it); it is not a
// read receipt. Send may be called concurrently. It never logs the
// recipient unmasked, and its errors never hold it.
type Transport interface {
	Send(ctx context.Context, m router.Outgoing) error
}
