package console

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"go.uber.org/zap"

	"github.com/tousu/tousu/services/httpapi"
)

// TestLayout renders a page in the layout: Chinese, the signed-in user's
// navigation, the user's name escaped, and the style sheet served from
// the binary.
func TestLayout(t *testing.T) {
	tpl, err := LoadTemplates()
	if err != nil {
		t.Fatal(err)
	}
	app := fiber.New()
	MountStatic(app, zap.NewNop())
	app.Get("/console/x", func(c *fiber.Ctx) error {
		return tpl.Render(c, http.StatusNotFound, "notfound", Page{Title: "页面不存在", User: httpapi.Principal{Name: "<b>坐席</b>", Role: httpapi.RoleAgent}})
	})
	app.Get("/console/y", func(c *fiber.Ctx) error { return tpl.Render(c, http.StatusOK, "nosuchpage", Page{}) })
	for _, tt := range []struct {
		path, want, unwanted string
		code                 int
	}{
		{"/console/x", `<html lang="zh-CN">`, "<b>坐席</b>", http.StatusNotFound},
		{"/console/x", "&lt;b&gt;坐席&lt;/b&gt;", "", http.StatusNotFound},
		{"/console/x", `href="/console/search"`, "", http.StatusNotFound},
		{"/console/static/console.css", "font-family", "", http.StatusOK},
		{"/console/y", "", "", http.StatusInternalServerError},
	} {
		resp, err := app.Test(httptest.NewRequest(http.MethodGet, tt.path, nil))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != tt.code || !strings.Contains(string(b), tt.want) || tt.unwanted != "" && strings.Contains(string(b), tt.unwanted) {
			t.Errorf("GET %s = %d %.300s; want %d with %q", tt.path, resp.StatusCode, b, tt.code, tt.want)
		}
	}
}
