package httpapi

import (
	"net/http"
	"strings"
	"testing"

	"github.com/tousu/tousu/normalize"
	"github.com/tousu/tousu/router"
)

// TestActReply: an agent answers the customer through the actions
// endpoint (kind reply, the text in note); a case without an e-mail
// address or a mobile number refuses it, and only the sender reports
// deliveries.
func TestActReply(t *testing.T) {
	const agent, admin = "agent-token-0123456789", "admin-token-0123456789"
	landline := func(c *router.Case) {
		c.Customer = normalize.Customer{Phone: "+861062345678", Key: "phone:+861062345678"}
	}
	tests := []struct {
		name    string
		edit    func(*router.Case)
		token   string
		body    map[string]string
		want    int
		code    string
		message string
	}{
		{"a reply by text message", nil, agent, map[string]string{"kind": "reply", "note": "您好，基站已于3月3日调整，请重启手机后再试。"}, http.StatusAccepted, "", ""},
		{"a reply without text", nil, agent, map[string]string{"kind": "reply", "note": " \n"}, http.StatusUnprocessableEntity, router.CodeNoteRequired, "答复内容不能为空"},
		{"a reply to a landline only", landline, agent, map[string]string{"kind": "reply", "note": "您好"}, http.StatusUnprocessableEntity, router.CodeNoContact, "无法联系客户"},
		{"an agent reports a delivery", nil, agent, map[string]string{"kind": "delivery"}, http.StatusUnprocessableEntity, router.CodeKind, "不支持的操作类型"},
		{"an admin reports a delivery as the sender", nil, admin, map[string]string{"kind": "delivery", "actor": "sender"}, http.StatusUnprocessableEntity, router.CodeKind, "答复客户"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			as := newActServer(t, tt.edit)
			code, out := as.post(t, tt.token, tt.body)
			if code != tt.want {
				t.Fatalf("status %d, want %d (answer %v)", code, tt.want, out)
			}
			if tt.code == "" {
				if len(as.published) != 1 || as.published[0].Kind != router.ActionReply || as.published[0].Note != tt.body["note"] {
					t.Errorf("published %+v, want the reply", as.published)
				}
				return
			}
			msg, _ := out["message"].(string)
			if out["code"] != tt.code || !strings.Contains(msg, tt.message) || len(as.published) != 0 {
				t.Errorf("answer %v, published %d; want code %s and a message containing %q", out, len(as.published), tt.code, tt.message)
			}
		})
	}
}
