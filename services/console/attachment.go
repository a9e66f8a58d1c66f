package console

// Attachments (GET /console/cases/:id/attachments/:sha256): a file the
// customer attached to a case, downloaded from the attachment store to
// whoever may see the case, never shown in the page (Content-Disposition:
// attachment, nosniff), with its name masked as the case page masks it.

import (
	"errors"
	"io"
	"mime"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/ingest/attachment"
	"github.com/tousu/tousu/services/httpapi"
)

// AttachmentStore is where the pages read the customers' attached files
// (an *attachment.Store). Its methods are called concurrently and do not
// block beyond opening a local file; the caller closes what Open returns.
type AttachmentStore interface {
	// Open returns the file stored under the hex SHA-256 sum, an error
	// matching attachment.ErrNotFound when none is.
	Open(sha string) (io.ReadCloser, error)
	// Allowed reports whether the store accepts files of a media type.
	Allowed(mediaType string) bool
}

// attachment sends one attached file of the case: 404 for a case the
// person may not see, a file not attached to it or not stored (too large,
// or of a type the store refused).
func (p *Pages) attachment(c *fiber.Ctx) error {
	cs, ok, err := p.viewable(c)
	if !ok {
		return err
	}
	sha := strings.ToLower(c.Params("sha256"))
	i := slices.IndexFunc(cs.Attachments, func(a ingest.Attachment) bool { return a.SHA256 == sha })
	var f io.ReadCloser
	if i >= 0 && p.d.Attachments != nil {
		f, err = p.d.Attachments.Open(sha)
	}
	switch {
	case f == nil && (err == nil || errors.Is(err, attachment.ErrNotFound)):
		return p.render(c, fiber.StatusNotFound, "notfound", "附件不存在", "", "", nil)
	case err != nil:
		return p.unavailable(c, "attachment: open", err)
	}
	a := httpapi.Redact(cs, httpapi.PrincipalOf(c), p.d.CustomerKey).Attachments[i]
	typ := a.Type
	if !p.d.Attachments.Allowed(typ) {
		typ = fiber.MIMEOctetStream
	}
	c.Set(fiber.HeaderContentType, typ)
	c.Set(fiber.HeaderContentDisposition, mime.FormatMediaType("attachment", map[string]string{"filename": a.Name}))
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderCacheControl, "private, no-store")
	return c.SendStream(f)
}
