package router

import (
	"strings"
	"testing"
	"time"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/ingest/imap"
	"github.com/tousu/tousu/normalize"
)

// TestNoMailLoop feeds the router mail as the e-mail channel builds it:
// a customer's mail opens a case and is acknowledged, while an
// auto-reply or a bounce answering that acknowledgement, or our own mail
// come back, is quarantined by the channel (imap.ParseMessage marks it
// Auto, and the mailbox reader moves such mail to quarantine rather than
// publishing it), so it never reaches the router and nothing answers it.
func TestNoMailLoop(t *testing.T) {
	ours := []string{"complaints@tousu.example.com", "@kefu.tousu.example.com"}
	e := telecom(t)
	n := notifier(t, NotifyConfig{Enabled: true, OurAddresses: ours, MessageIDDomain: "tousu.example.com"})
	refs := ingest.NewReferences([]byte("the installation's reference key"))
	ackID := "tousu.ts0k3m9q2w7x.5f1e2d3c4b5a6978@tousu.example.com"

	tests := []struct {
		name string
		raw  string
		ack  bool
	}{
		{"a customer's complaint", "From: =?UTF-8?B?546L5Li9?= <wang.li@163.com>\r\nTo: complaints@tousu.example.com\r\n" +
			"Subject: =?UTF-8?B?5a695bim5pat572R5LqU5aSp?=\r\nMessage-ID: <CAF=x1@mail.163.com>\r\nDate: Mon, 2 Mar 2026 09:12:00 +0800\r\n" +
			"Content-Type: text/plain; charset=utf-8\r\n\r\n3月2号开始宽带断网，报修两次没人来，要求退还这几天的费用。手机13912345678\r\n", true},
		{"an out-of-office reply to our ack", "From: wang.li@163.com\r\nTo: complaints@tousu.example.com\r\n" +
			"Subject: =?UTF-8?B?6Ieq5Yqo5Zue5aSN?=: [TS0K3M9Q2W7X]\r\nAuto-Submitted: auto-replied\r\nIn-Reply-To: <" + ackID + ">\r\n" +
			"Message-ID: <ooo1@mail.163.com>\r\nDate: Mon, 2 Mar 2026 09:13:00 +0800\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n我正在休假，3月9日回来。\r\n", false},
		{"an out-of-office reply with only its subject", "From: wang.li@163.com\r\nTo: complaints@tousu.example.com\r\n" +
			"Subject: =?UTF-8?B?6Ieq5Yqo5Zue5aSN77ya5oKo55qE5oqV6K+J5bey5Y+X55CG?=\r\nIn-Reply-To: <" + ackID + ">\r\n" +
			"Message-ID: <ooo2@mail.163.com>\r\nDate: Mon, 2 Mar 2026 09:13:30 +0800\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n您好，邮件已收到，我会尽快回复。\r\n", false},
		{"a bounce of our ack", "From: MAILER-DAEMON@mx.163.com\r\nTo: complaints@tousu.example.com\r\nReturn-Path: <>\r\n" +
			"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <bounce1@mx.163.com>\r\nDate: Mon, 2 Mar 2026 09:14:00 +0800\r\n" +
			"Content-Type: multipart/report; report-type=delivery-status; boundary=b1\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\n" +
			"550 User not found\r\n--b1--\r\n", false},
		{"our own ack, come back", "From: =?UTF-8?B?5oqV6K+J5Y+X55CG5Lit5b+D?= <complaints@tousu.example.com>\r\nTo: complaints@tousu.example.com\r\n" +
			"Subject: [TS0K3M9Q2W7X] ack\r\nMessage-ID: <" + ackID + ">\r\nDate: Mon, 2 Mar 2026 09:12:30 +0800\r\n" +
			"Content-Type: text/plain; charset=utf-8\r\n\r\n您的投诉已受理，受理编号：TS0K3M9Q2W7X。\r\n", false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := imap.ParseMessage([]byte(tt.raw), imap.ParseOptions{OurAddresses: ours})
			if err != nil {
				t.Fatal(err)
			}
			if p.Auto != "" {
				if tt.ack {
					t.Fatalf("a person's mail is judged automatic: %s", p.Auto)
				}
				return // quarantined by the channel: no complaint, no message
			}
			if !tt.ack {
				t.Fatal("automatic mail would reach the router")
			}
			env, err := imap.BuildEnvelope(refs, &p, imap.Meta{Mailbox: "support", UIDValidity: 7, UID: uint32(100 + i),
				InternalDate: time.Date(2026, 3, 2, 1, 12, 5, 0, time.UTC)}, []byte(tt.raw), nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			comp, err := normalize.Normalize(env)
			if err != nil {
				t.Fatal(err)
			}
			r, err := RouteComplaint(Arrival{Complaint: comp, Records: newMemRecords(), Policy: e, Now: comp.ReceivedAt})
			if err != nil || r.Opened == nil {
				t.Fatalf("RouteComplaint: %v, %+v", err, r)
			}
			got := n.Notify(NotifyInput{Case: *r.Opened, Revision: 1, Outcome: r.Outcome, Complaint: &comp, Now: comp.ReceivedAt})
			if len(got.Outgoing) != 1 || got.Outgoing[0].To != "wang.li@163.com" || got.Outgoing[0].InReplyTo != "CAF=x1@mail.163.com" ||
				!strings.Contains(got.Outgoing[0].Subject, r.Opened.ID) {
				t.Fatalf("the complaint is not acknowledged in its thread: %+v (%s)", got.Outgoing, got.Skipped)
			}
		})
	}
}
