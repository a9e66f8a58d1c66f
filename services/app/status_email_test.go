package app

import (
	"testing"

	"github.com/tousu/tousu/router"
)

// TestStatusPagePromisesEmailOnlyWhenSent checks the flag the status page
// promises e-mail progress by: an SMTP sender, web complaints written to
// by e-mail, and acknowledgements or result notices on.
func TestStatusPagePromisesEmailOnlyWhenSent(t *testing.T) {
	const smtp = "smtp://127.0.0.1:10025?tls=none&" + fromParam
	off := false
	for _, tt := range []struct {
		name    string
		environ []string
		edit    func(*Config)
		want    bool
	}{
		{"no sender", nil, func(*Config) {}, false},
		{"a sender: acknowledgements on", []string{EnvSMTPURL + "=" + smtp}, func(*Config) {}, true},
		{"a sender, acknowledgements and results off", []string{EnvSMTPURL + "=" + smtp}, func(c *Config) { c.Router.Outbound.Ack, c.Router.Outbound.Result = &off, &off }, false},
		{"a sender, web complaints answered by SMS", []string{EnvSMTPURL + "=" + smtp}, func(c *Config) { c.Router.Outbound.WebMedia = []router.Medium{router.MediumSMS} }, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load("", tt.environ, tt.edit)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Webform.EmailProgress != tt.want {
				t.Errorf("webform email progress = %v, want %v", cfg.Webform.EmailProgress, tt.want)
			}
		})
	}
}
