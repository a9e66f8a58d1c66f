package servertest

import (
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// SMTP is Postfix: an SMTP URL (smtp://127.0.0.1:PORT?tls=none) that
// delivers into the Dovecot test mailboxes.
var SMTP = Server{"TOUSU_TEST_SMTP", `a Postfix SMTP URL: deploy/dev/postfix.sh start; eval "$(deploy/dev/postfix.sh env)"; eval "$(deploy/dev/dovecot.sh env)"`}

// MTA is the real MTA of the outbound e-mail tests and the mailboxes it
// delivers to, as deploy/dev/postfix.sh and deploy/dev/dovecot.sh print
// them.
type MTA struct {
	// URL is the SMTP server (TOUSU_TEST_SMTP).
	URL string
	// Customer is the address delivered to CustomerMailbox
	// (TOUSU_TEST_SMTP_CUSTOMER), Support the one delivered to the
	// complaints mailbox of TOUSU_TEST_IMAP (TOUSU_TEST_SMTP_SUPPORT).
	Customer, Support string
	// CustomerMailbox is the customer's IMAP mailbox URL
	// (TOUSU_TEST_IMAP_CUSTOMER).
	CustomerMailbox string
}

// RequireMTA returns the MTA named in the environment, skipping or
// failing as Require does when TOUSU_TEST_SMTP is not set; with it set,
// the other variables must be too.
func RequireMTA(tb testing.TB) MTA {
	tb.Helper()
	m := MTA{URL: Require(tb, SMTP)}
	if m.URL == "" {
		return m // skipped or failed
	}
	m = MTA{URL: m.URL, Customer: os.Getenv("TOUSU_TEST_SMTP_CUSTOMER"),
		Support: os.Getenv("TOUSU_TEST_SMTP_SUPPORT"), CustomerMailbox: os.Getenv("TOUSU_TEST_IMAP_CUSTOMER")}
	if m.Customer == "" || m.Support == "" || m.CustomerMailbox == "" {
		tb.Fatalf("%s is set but TOUSU_TEST_SMTP_CUSTOMER, TOUSU_TEST_SMTP_SUPPORT or TOUSU_TEST_IMAP_CUSTOMER is not (%s)", SMTP.Env, SMTP.Hint)
	}
	return m
}

// TestFolder is the folder of the complaints mailbox (TOUSU_TEST_IMAP)
// that the MTA delivers TestFolderAddress's mail to instead of the INBOX
// (deploy/dev/postfix.sh): the outbound end-to-end test's own folder.
const TestFolder = "e2e"

// TestFolderAddress is the address of the complaints mailbox's
// TestFolder: Support with "+e2e" after its local part.
func (m MTA) TestFolderAddress() string {
	local, domain, _ := strings.Cut(m.Support, "@")
	return local + "+" + TestFolder + "@" + domain
}

// Unknown is an address of the customer's domain that the MTA refuses
// (no such mailbox).
func (m MTA) Unknown() string {
	_, domain, _ := strings.Cut(m.Customer, "@")
	return "wu.ren.zai@" + domain
}

// Mails returns the raw messages in the folder of the mailbox at
// mailboxURL (imap://user:pass@host:port/INBOX?tls=none; INBOX when the
// path is empty) whose Message-ID is messageID (without angle brackets),
// in arrival order.
func Mails(mailboxURL, messageID string) ([][]byte, error) {
	return Search(mailboxURL, "Message-ID", messageID)
}

// Search returns the raw messages in the folder of the mailbox at
// mailboxURL, as Mails reads it, whose header contains value (the server
// compares substrings, ignoring case), in arrival order.
func Search(mailboxURL, header, value string) ([][]byte, error) {
	u, err := url.Parse(mailboxURL)
	if err != nil {
		return nil, fmt.Errorf("mailbox URL: %w", err)
	}
	folder := strings.TrimPrefix(u.Path, "/")
	if folder == "" {
		folder = "INBOX"
	}
	c, err := imapclient.DialInsecure(u.Host, nil)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	pass, _ := u.User.Password()
	if err := c.Login(u.User.Username(), pass).Wait(); err != nil {
		return nil, err
	}
	if _, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		return nil, err
	}
	found, err := c.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: header, Value: value}}}, nil).Wait()
	if err != nil {
		return nil, err
	}
	uids := found.AllUIDs()
	if len(uids) == 0 {
		return nil, nil
	}
	section := &imap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, msg := range msgs {
		out = append(out, msg.FindBodySection(section))
	}
	return out, nil
}
