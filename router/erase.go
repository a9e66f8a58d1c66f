package router

import (
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/normalize"
)

// The reasons a case's personal information is erased.
const (
	// ErasureRequest: the customer asked for it (个人信息保护法 第四十七条).
	ErasureRequest = "request"
	// ErasureRetention: the retention period after the case was closed
	// has passed (第十九条).
	ErasureRetention = "retention"
)

// ErasureReasons are the reasons of an erasure with their names in
// Chinese.
var ErasureReasons = map[string]string{ErasureRequest: "请求删除", ErasureRetention: "保存期限届满"}

// Erasure records that a case's personal information was erased: when,
// why (ErasureRequest or ErasureRetention) and by whom (an admin's
// account, or RetentionActor).
type Erasure struct {
	At     time.Time `json:"at"`
	Reason string    `json:"reason"`
	By     string    `json:"by"`
}

// RetentionActor is the actor of the erase actions of the retention job.
const RetentionActor = "retention"

// The placeholders Erase writes where it removed something.
const (
	ErasedName    = "［姓名已删除］"
	ErasedAddress = "［地址已删除］"
	ErasedFile    = "［附件已删除］"
)

// ErasedCustomerKey is the customer key of an erased case: anonymous, so
// that no history or message log is kept under it, and one of its own.
func ErasedCustomerKey(caseID string) string { return "anonymous:erased:" + caseID }

// Erase returns c with the personal information it holds removed, as an
// erasure request or the end of the retention period asks
// (个人信息保护法 第四十七条): the customer's name, phone, e-mail and key;
// the e-mail addresses, personal numbers (ingest.RedactText), addresses
// (EraseAddresses) and the customer's names in the subject, the text,
// every contact's and every history event's; the contacts' senders; the
// attachments' names and content hashes (the files are deleted
// elsewhere); the Message-IDs. What statistics and the case's handling
// record need stays: pack, category, grade, validity, channel, route,
// dates, clocks, escalation, history kinds and actors, the follow-up
// result. Erase is pure, does not modify c, and erasing an erased case
// changes nothing but keeps its first Erasure.
func Erase(c Case, e Erasure) Case {
	names := []string{c.Customer.Name}
	for _, ct := range c.Contacts {
		names = append(names, ct.From.Name)
	}
	text := func(s string) string { return EraseText(s, names...) }
	c.Customer = normalize.Customer{Key: ErasedCustomerKey(c.ID)}
	c.Subject, c.Description = text(c.Subject), text(c.Description)
	c.Contacts = slices.Clone(c.Contacts)
	for i := range c.Contacts {
		ct := &c.Contacts[i]
		ct.Subject, ct.Text = text(ct.Subject), text(ct.Text)
		if ct.From != (normalize.Customer{}) {
			ct.From = normalize.Customer{Key: ErasedCustomerKey(c.ID)}
		}
	}
	c.History = slices.Clone(c.History)
	for i := range c.History {
		c.History[i].Note, c.History[i].Detail = text(c.History[i].Note), text(c.History[i].Detail)
	}
	c.Explanation = slices.Clone(c.Explanation)
	for i := range c.Explanation {
		c.Explanation[i].Value, c.Explanation[i].Reason = text(c.Explanation[i].Value), text(c.Explanation[i].Reason)
	}
	c.Decision.Reason = text(c.Decision.Reason)
	c.Attachments = slices.Clone(c.Attachments)
	for i := range c.Attachments {
		c.Attachments[i].Name, c.Attachments[i].SHA256 = ErasedFile, ""
	}
	c.MessageIDs = nil
	if c.Erased == nil {
		c.Erased = &e
	}
	return c
}

// EraseText returns s with the e-mail addresses and personal numbers
// (ingest.RedactText), the addresses (EraseAddresses) and every
// occurrence of the names of two characters or more replaced by
// placeholders; everything else (dates, amounts, order numbers) stays.
func EraseText(s string, names ...string) string {
	s = EraseAddresses(ingest.RedactText(s))
	for _, n := range names {
		if n = strings.TrimSpace(n); utf8.RuneCountInString(n) >= 2 {
			s = strings.ReplaceAll(s, n, ErasedName)
		}
	}
	return s
}

// address finds a postal address in a sentence: one or more place names
// (a province, city, district, town, road, estate or building: up to
// eight characters ending in 省, 市, 区, 路, 小区…) followed by house
// numbers (88号, 3号楼, 2单元, 501室, 三栋…), and the room number that
// may end it without a suffix (12栋302). Digits may be full-width. The characters
// that lead into the address in the same sentence (我家住在, 地址是) may
// be taken with it: an erasure removes too much rather than too little.
var address = regexp.MustCompile(
	`(?:[\p{Han}A-Za-z]{0,8}?(?:自治区|特别行政区|省|市|自治州|州|盟|区|县|旗|镇|乡|街道|大道|大街|路|街|巷|弄|胡同|村|组|屯|小区|花园|家园|新村|公寓|大厦|广场|园区|苑|庭|府|里|湾|城|坊))+` +
		`(?:[-－#＃—]?[0-9０-９一二三四五六七八九十百零〇A-Za-zＡ-Ｚ]+(?:号院|号楼|号|段|栋|幢|座|单元|门|层|楼|室|户|弄|组|排|期|区))+` +
		`(?:[-－#＃—]?[0-9０-９]+)?`)

// EraseAddresses replaces every postal address in s (see address) by
// ErasedAddress.
func EraseAddresses(s string) string {
	return address.ReplaceAllString(s, ErasedAddress)
}
