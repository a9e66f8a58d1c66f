// Package mailtest gives an integration test a mail folder of its own on
// the Dovecot of TOUSU_TEST_IMAP (servertest.IMAP), to deliver raw
// messages into and point tousu's poller at.
package mailtest

import (
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
)

// Folder is a fresh folder in the test mailbox, deleted when the test
// ends. Its methods are for the test's goroutine.
type Folder struct {
	// URL is the mailbox URL of the folder, polled every 200 ms.
	URL    string
	client *imapclient.Client
	name   string
}

// New creates a folder in the mailbox of rawurl (a TOUSU_TEST_IMAP URL).
func New(tb testing.TB, rawurl string) *Folder {
	tb.Helper()
	u, err := url.Parse(rawurl)
	if err != nil {
		tb.Fatal(err)
	}
	name := fmt.Sprintf("tousu-test-%d", time.Now().UnixNano())
	c, err := imapclient.DialInsecure(u.Host, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	password, _ := u.User.Password()
	if err := c.Login(u.User.Username(), password).Wait(); err != nil {
		tb.Fatal(err)
	}
	if err := c.Create(name, nil).Wait(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Delete(name).Wait() })
	u.Path = "/" + name
	q := u.Query()
	q.Set("poll", "200ms")
	u.RawQuery = q.Encode()
	return &Folder{URL: u.String(), client: c, name: name}
}

// Deliver appends a raw mail to the folder.
func (f *Folder) Deliver(tb testing.TB, raw string) {
	tb.Helper()
	cmd := f.client.Append(f.name, int64(len(raw)), nil)
	if _, err := cmd.Write([]byte(raw)); err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		tb.Fatal(err)
	}
	if _, err := cmd.Wait(); err != nil {
		tb.Fatal(err)
	}
}
