package httpapi

import (
	"encoding/json"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/normalize"
	"github.com/tousu/tousu/router"
)

// redactCase is a case whose texts hold personal numbers and addresses:
// the customer's phone, a second phone, an ID card, a bank card and an
// e-mail address, next to an order number, a date and an amount.
func redactCase() router.Case {
	colleague := normalize.Customer{Name: "李四", Phone: "+8613912345678", Email: "li.si@example.com", Key: "phone:+8613912345678"}
	return router.Case{
		ID:          "TS1",
		Customer:    normalize.Customer{Name: "张三", Phone: "+8613800138000", Email: "zhang.san@example.com", Key: "phone:+8613800138000"},
		Subject:     "投诉 13800138000 的宽带",
		Description: "身份证11010519491231002X，退款请打到卡号6222021234567894，也可以打我另一个电话139-1234-5678或发邮件到zhang.san@example.com。订单号20260311123456789012，2026-03-11付款1380.00元。",
		Attachments: []ingest.Attachment{{Name: "11010519491231002X.jpg", Type: "image/jpeg"}},
		Warnings:    []string{"邮件头：第 4 行不是合法的字段，已跳过：备注: 手机13800138000"},
		Decision:    router.Decision{Category: "网络问题", Reason: "rule net"},
		Explanation: []router.Explanation{{Field: "reply", Value: "attached", By: "input", Reason: "an e-mail from li.si@example.com, not the case's customer"}},
		Contacts: []router.Contact{
			{Complaint: "email:2", Kind: router.ContactRepeat, Text: "又断网了，回电13800138000"},
			{Complaint: "email:3", Kind: router.ContactReply, From: colleague, Subject: "回复", Text: "我是同事，电话13912345678",
				Warnings: []string{"邮件头：第 2 行不是合法的字段，已跳过：X-Phone 13912345678"}},
			{Complaint: "email:4", Kind: router.ContactReply, From: normalize.Customer{Email: "wang@example.com", Key: "email:wang@example.com"}, Text: "reply"},
		},
		History: []router.Event{{Action: "a1", Kind: router.ActionNote, Actor: "1001", Note: "已回电13800138000，客户要求退款1380元"}},
	}
}

// secrets are what a role that may not see contacts must not read
// anywhere in a redacted redactCase.
var secrets = []string{"13800138000", "13912345678", "1234-5678", "11010519491231002X", "6222021234567894",
	"zhang.san", "li.si", "wang@", "张三", "李四", `"key":"phone:`, `"key":"email:`}

// TestRedact: every role gets opaque, stable customer keys; a role that
// may not see contacts gets names, phones, e-mail addresses and the
// numbers in every text masked, and the order number, date and amount
// intact; the case passed in, shared with other requests, is unchanged.
func TestRedact(t *testing.T) {
	key := []byte("customer-key-0123456789abcdefghij")
	shared := redactCase()
	tests := []struct {
		role   Role
		masked bool
	}{
		{RoleAgent, true},
		{RoleIntake, true},
		{RoleSupervisor, false},
		{RoleAdmin, false},
	}
	for _, tt := range tests {
		t.Run(string(tt.role), func(t *testing.T) {
			got := Redact(shared, Principal{Role: tt.role}, key)
			if got.Customer.Key != CustomerToken(key, "phone:+8613800138000") || got.Contacts[1].From.Key != CustomerToken(key, "phone:+8613912345678") ||
				got.Contacts[2].From.Key != CustomerToken(key, "email:wang@example.com") {
				t.Errorf("keys %q, %q, %q: want the tokens of the raw keys", got.Customer.Key, got.Contacts[1].From.Key, got.Contacts[2].From.Key)
			}
			if got.Contacts[0].From != (normalize.Customer{}) {
				t.Errorf("the customer's own contact got a sender: %+v", got.Contacts[0].From)
			}
			b, err := json.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			body := string(b)
			for _, keep := range []string{"20260311123456789012", "2026-03-11", "1380.00元", "退款1380元"} {
				if !strings.Contains(body, keep) {
					t.Errorf("%q is gone: %s", keep, body)
				}
			}
			if strings.Contains(body, `"key":"phone:`) || strings.Contains(body, `"key":"email:`) {
				t.Errorf("a raw customer key is in %s", body)
			}
			if !tt.masked {
				want := redactCase()
				want.Customer.Key, want.Contacts[1].From.Key, want.Contacts[2].From.Key = got.Customer.Key, got.Contacts[1].From.Key, got.Contacts[2].From.Key
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s: more than the keys changed:\n got %+v\nwant %+v", tt.role, got, want)
				}
				return
			}
			for _, s := range secrets {
				if strings.Contains(body, s) {
					t.Errorf("%s reads %q in %s", tt.role, s, body)
				}
			}
			wantCustomer := normalize.Customer{Name: "张*", Phone: "138****8000", Email: "z***@example.com", Key: got.Customer.Key}
			if got.Customer != wantCustomer || got.Contacts[1].From.Name != "李*" || got.Contacts[1].From.Phone != "139****5678" || got.Contacts[2].From.Email != "w***@example.com" {
				t.Errorf("customer %+v, senders %+v, %+v", got.Customer, got.Contacts[1].From, got.Contacts[2].From)
			}
			wantDescription := "身份证110***********002X，退款请打到卡号6222********7894，也可以打我另一个电话139****5678或发邮件到z***@example.com。订单号20260311123456789012，2026-03-11付款1380.00元。"
			if got.Description != wantDescription || got.Subject != "投诉 138****8000 的宽带" || got.History[0].Note != "已回电138****8000，客户要求退款1380元" {
				t.Errorf("subject %q, description %q, note %q", got.Subject, got.Description, got.History[0].Note)
			}
			if !slices.Equal(got.Warnings, []string{"邮件头：第 4 行不是合法的字段，已跳过：备注: 手机138****8000"}) {
				t.Errorf("warnings %q", got.Warnings)
			}
		})
	}
	if !reflect.DeepEqual(shared, redactCase()) {
		t.Fatalf("redact modified the shared case: %+v", shared)
	}
}

// TestCustomerToken: a token is stable for a key and a customer, differs
// between customers and between keys, and is c_ and 16 base32 characters.
func TestCustomerToken(t *testing.T) {
	k1, k2 := []byte("key-one-0123456789abcdefghijklmnop"), []byte("key-two-0123456789abcdefghijklmnop")
	tok := CustomerToken(k1, "phone:+8613800138000")
	if !regexp.MustCompile(`^c_[a-z2-7]{16}$`).MatchString(tok) {
		t.Errorf("token %q", tok)
	}
	tests := []struct {
		name  string
		other string
		same  bool
	}{
		{"same key and customer", CustomerToken(k1, "phone:+8613800138000"), true},
		{"another customer", CustomerToken(k1, "phone:+8613800138001"), false},
		{"another key", CustomerToken(k2, "phone:+8613800138000"), false},
	}
	for _, tt := range tests {
		if (tt.other == tok) != tt.same {
			t.Errorf("%s: %q vs %q", tt.name, tt.other, tok)
		}
	}
}
