package console

// The export of a search (GET /console/search/export): the search page's
// query as CSV, through the API's export (httpapi.SendCSV), so the scope
// and masking are the search page's.

import (
	"net/url"

	"github.com/gofiber/fiber/v2"

	"github.com/tousu/tousu/services/httpapi"
)

// searchValues are the request's query parameters as the search page
// reads them: the form's empty fields left out.
func searchValues(c *fiber.Ctx) url.Values {
	values := url.Values{}
	c.Context().QueryArgs().VisitAll(func(key, value []byte) {
		if len(value) > 0 {
			values.Add(string(key), string(value))
		}
	})
	return values
}

// exportLink is the address of the export of the search values.
func exportLink(values url.Values) string { return Path + "/search/export?" + values.Encode() }

// export answers the search page's query as CSV; a wrong query goes
// back to the search page, which says what is wrong; 503 when the index
// does not answer.
func (p *Pages) export(c *fiber.Ctx) error {
	me := httpapi.PrincipalOf(c)
	values := searchValues(c)
	q, err := httpapi.ParseSearch(values, me)
	if err != nil {
		return c.Redirect(Path+"/search?"+values.Encode(), fiber.StatusSeeOther)
	}
	if err := httpapi.SendCSV(c, p.d.Index, q, me, p.d.CustomerKey, p.d.Logger); err != nil {
		return p.unavailable(c, "export failed", err)
	}
	return nil
}
