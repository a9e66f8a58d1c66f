package imap

import (
	"strings"
	"testing"

	"github.com/tousu/tousu/ingest/ingesttest"
)

// TestListMail: with accept_list_mail, mail a list delivered (Precedence:
// list, List-Id) is a complaint, also when the list rewrote From to its
// own (our) address and named the customer in Reply-To; every other sign of
// automatic mail still counts. Without it, list mail is not a complaint.
func TestListMail(t *testing.T) {
	ours := []string{"@tousu.example.com"}
	group := "complaints@tousu.example.com"
	tests := []struct {
		name    string
		headers []string
		// wantAuto without and with AcceptListMail: "" means a complaint,
		// otherwise a substring of the reason.
		off, on string
	}{
		{"list mail from a customer",
			[]string{"From: 张三 <zhangsan@example.com>", "Precedence: list", "List-Id: <complaints.tousu.example.com>", "Subject: 宽带断网"},
			"Precedence: list", ""},
		{"precedence list in odd case and spacing",
			[]string{"From: zhangsan@example.com", "Precedence:  LIST ", "Subject: 宽带断网"},
			"Precedence: list", ""},
		{"Google Group rewrote From to the group (DMARC)",
			[]string{"From: '张三' via 投诉 <" + group + ">", "Reply-To: 张三 <zhangsan@example.com>", "Precedence: list",
				"List-Id: <complaints.tousu.example.com>", "Subject: 宽带断网"},
			"Precedence: list", ""},
		{"rewritten From, List-Id only",
			[]string{"From: '张三' via 投诉 <" + group + ">", "Reply-To: zhangsan@example.com", "List-Id: <complaints.tousu.example.com>", "Subject: 宽带断网"},
			"from our own address", ""},
		{"our own mail back through the list, Reply-To ours",
			[]string{"From: support@tousu.example.com", "Reply-To: " + group, "Precedence: list", "List-Id: <complaints.tousu.example.com>", "Subject: 回复：您的投诉"},
			"Precedence: list", "from our own address"},
		{"our own mail back through the list, no Reply-To",
			[]string{"From: support@tousu.example.com", "Precedence: list", "List-Id: <complaints.tousu.example.com>", "Subject: 回复：您的投诉"},
			"Precedence: list", "from our own address"},
		{"our own mail not from a list, Reply-To a customer",
			[]string{"From: support@tousu.example.com", "Reply-To: zhangsan@example.com", "Subject: 回复：您的投诉"},
			"from our own address", "from our own address"},
		{"bulk stays bulk", []string{"From: news@example.com", "Precedence: bulk", "Subject: newsletter"}, "Precedence: bulk", "Precedence: bulk"},
		{"junk stays junk", []string{"From: x@example.com", "Precedence: junk", "Subject: x"}, "Precedence: junk", "Precedence: junk"},
		{"auto-reply through the list",
			[]string{"From: away@example.com", "Precedence: list", "Auto-Submitted: auto-replied", "Subject: 自动回复: 投诉"},
			"Auto-Submitted", "Auto-Submitted"},
		{"out-of-office through the list, no header",
			[]string{"From: away@example.com", "Precedence: list", "Subject: Automatic reply: 投诉"},
			"Precedence: list", "auto-reply subject"},
		{"bounce through the list",
			[]string{"From: MAILER-DAEMON@mx.example.com", "Precedence: list", "Subject: Undelivered"},
			"Precedence: list", "mailer-daemon"},
		{"X-Autoreply through the list",
			[]string{"From: qq@example.com", "Precedence: list", "X-Autoreply: yes", "Subject: 您好"},
			"Precedence: list", "X-Autoreply"},
		{"a person's mail", []string{"From: zhangsan@example.com", "Subject: 宽带断网"}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := msg(tt.headers, "从昨天开始断网，请尽快处理。")
			for _, accept := range []bool{false, true} {
				want := tt.off
				if accept {
					want = tt.on
				}
				p, err := ParseMessage(raw, ParseOptions{OurAddresses: ours, AcceptListMail: accept})
				if err != nil {
					t.Fatal(err)
				}
				if want == "" && p.Auto != "" || want != "" && !strings.Contains(strings.ToLower(p.Auto), strings.ToLower(want)) {
					t.Errorf("accept_list_mail=%v: Auto = %q, want %q", accept, p.Auto, want)
				}
			}
		})
	}
}

// TestListMailContact: the complaint of a rewritten list mail names the
// customer from Reply-To, not the group.
func TestListMailContact(t *testing.T) {
	raw := msg([]string{"From: '张三' via 投诉 <complaints@tousu.example.com>", "Reply-To: 张三 <zhangsan@example.com>",
		"Precedence: list", "List-Id: <complaints.tousu.example.com>", "Subject: 宽带断网"}, "断网三天了")
	p, err := ParseMessage(raw, ParseOptions{OurAddresses: []string{"@tousu.example.com"}, AcceptListMail: true})
	if err != nil || p.Auto != "" {
		t.Fatalf("ParseMessage: auto %q, %v", p.Auto, err)
	}
	env, err := BuildEnvelope(ingesttest.References(), &p, Meta{Mailbox: "group", UIDValidity: 1, UID: 1}, raw, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if env.Email != "zhangsan@example.com" || env.Name != "张三" {
		t.Errorf("contact = %q <%s>", env.Name, env.Email)
	}
}

func TestHeaderMessageID(t *testing.T) {
	tests := []struct {
		name, start, want string
	}{
		{"CRLF", "From: a@example.com\r\nMessage-ID: <big-1@example.com>\r\n\r\nbody", "big-1@example.com"},
		{"LF", "Message-Id: <big-2@example.com>\nSubject: x\n\nbody", "big-2@example.com"},
		{"folded", "Message-ID:\r\n <big-3@example.com>\r\nSubject: x\r\n\r\n", "big-3@example.com"},
		{"header cut off", "From: a@example.com\r\nMessage-ID: <big-4@exa", ""},
		{"no Message-ID", "From: a@example.com\r\n\r\nbody\r\n\r\n", ""},
		{"empty", "", ""},
		{"blank first line", "\r\n\r\nMessage-ID: <x@example.com>\r\n\r\n", ""},
		{"a malformed line before it", "X-Script/function/\t !\"#$%: TEST\r\nMessage-ID: <big-5@example.com>\r\n\r\n", "big-5@example.com"},
	}
	for _, tt := range tests {
		if got := headerMessageID([]byte(tt.start)); got != tt.want {
			t.Errorf("%s: headerMessageID = %q, want %q", tt.name, got, tt.want)
		}
	}
}
