package bodylimit

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// TestRead: a body within the limit is read whole and marked consumed; a
// longer one fails with ErrTooLarge, at once when Content-Length says so,
// with streamed and with buffered request bodies alike.
// TestReadCutsOffLongBodies covers bodies over Linger.
func TestRead(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		chunked  bool
		limit    int64
		want     string
		tooLarge bool
	}{
		{"within", "hello", false, 5, "hello", false},
		{"within, chunked", "hello", true, 5, "hello", false},
		{"empty", "", false, 5, "", false},
		{"over", "hello!", false, 5, "", true},
		{"over, chunked", "hello!", true, 5, "", true},
		{"zero limit", "x", false, 0, "", true},
	}
	for _, stream := range []bool{true, false} {
		app := fiber.New(fiber.Config{StreamRequestBody: stream})
		app.Post("/", func(c *fiber.Ctx) error {
			limit, _ := strconv.ParseInt(c.Query("limit"), 10, 64)
			body, err := Read(c, limit)
			c.Set("X-Consumed", strconv.FormatBool(Consumed(c)))
			switch {
			case errors.Is(err, ErrTooLarge):
				return c.Status(fiber.StatusRequestEntityTooLarge).SendString("too large")
			case err != nil:
				return err
			}
			return c.Send(body)
		})
		for _, tt := range tests {
			t.Run(tt.name+" stream="+strconv.FormatBool(stream), func(t *testing.T) {
				req := httptest.NewRequest(http.MethodPost, "/?limit="+strconv.FormatInt(tt.limit, 10), strings.NewReader(tt.body))
				if tt.chunked {
					req.ContentLength = -1
					req.TransferEncoding = []string{"chunked"}
				}
				resp, err := app.Test(req, -1)
				if err != nil {
					t.Fatal(err)
				}
				got, _ := io.ReadAll(resp.Body)
				if tt.tooLarge {
					// Within Linger of the limit, the rest was read and
					// dropped: the connection can serve another request.
					if resp.StatusCode != fiber.StatusRequestEntityTooLarge || resp.Header.Get("X-Consumed") != "true" || resp.Close {
						t.Fatalf("status %d %s consumed=%s close=%v, want 413 with the body drained", resp.StatusCode, got, resp.Header.Get("X-Consumed"), resp.Close)
					}
					return
				}
				if resp.StatusCode != 200 || string(got) != tt.want || resp.Header.Get("X-Consumed") != "true" {
					t.Fatalf("got %d %q consumed=%s, want %q consumed", resp.StatusCode, got, resp.Header.Get("X-Consumed"), tt.want)
				}
			})
		}
	}
}

// TestReadCutsOffLongBodies: a body more than Linger over the limit is
// not read to its end, and the connection closes after the answer.
func TestReadCutsOffLongBodies(t *testing.T) {
	app := fiber.New(fiber.Config{StreamRequestBody: true})
	app.Post("/", func(c *fiber.Ctx) error {
		_, err := Read(c, 10)
		if !errors.Is(err, ErrTooLarge) || Consumed(c) {
			return c.Status(500).SendString("read it all")
		}
		return c.SendStatus(fiber.StatusRequestEntityTooLarge)
	})
	for _, chunked := range []bool{false, true} {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(strings.Repeat("x", 2*Linger)))
		if chunked {
			req.ContentLength = -1
			req.TransferEncoding = []string{"chunked"}
		}
		resp, err := app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != fiber.StatusRequestEntityTooLarge || !resp.Close {
			t.Errorf("chunked %v: status %d close=%v, want 413 closing", chunked, resp.StatusCode, resp.Close)
		}
	}
}
