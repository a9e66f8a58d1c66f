package router

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/normalize"
)

// consented is a web form envelope with the customer's consent, through
// the normalizer as the router gets it.
func consented(tb testing.TB, id string, extra map[string]string, at time.Time) normalize.Complaint {
	tb.Helper()
	env := ingest.Envelope{V: ingest.SchemaVersion, ID: id, Reference: ingest.ReferenceFor(id), Channel: ingest.ChannelWebForm,
		ReceivedAt: at, Name: "刘芳", Phone: "13912345678", Description: "12/05停电后光猫一直红灯，说好48小时上门没人来", Extra: extra}
	c, err := normalize.Normalize(env)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func TestConsentOnCase(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 12, 10, 0, 0, time.UTC)
	withConsent := func(version string, at time.Time) map[string]string {
		env := ingest.Envelope{}
		ingest.SetConsent(&env, ingest.Consent{Version: version, At: at})
		return env.Extra
	}
	tests := []struct {
		name  string
		extra map[string]string
		want  *ingest.Consent
	}{
		{"web form", withConsent("2026-12", t0), &ingest.Consent{Version: "2026-12", At: t0}},
		{"the built-in template", withConsent("模板", t0), &ingest.Consent{Version: "模板", At: t0}},
		{"none", map[string]string{"remote_addr": "203.0.113.7"}, nil},
		{"a time that is no time", map[string]string{ingest.ExtraConsentVersion: "2026-12", ingest.ExtraConsentAt: "2026年12月6日"}, nil},
		{"a version too long", map[string]string{ingest.ExtraConsentVersion: "2026-12-第二版-征求意见稿-v3", ingest.ExtraConsentAt: "2026-12-06T12:10:00Z"}, nil},
	}
	e := miniEngine(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.Open(consented(t, "webform:"+tt.name, tt.extra, t0), t0)
			if (c.Consent == nil) != (tt.want == nil) || (c.Consent != nil && *c.Consent != *tt.want) {
				t.Fatalf("consent %+v, want %+v", c.Consent, tt.want)
			}
			// The case record keeps it.
			b, err := json.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			var back Case
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if (back.Consent == nil) != (tt.want == nil) || (back.Consent != nil && !back.Consent.At.Equal(tt.want.At)) {
				t.Fatalf("consent after the record: %+v", back.Consent)
			}
		})
	}

	// A later complaint keeps its own consent on its contact; the case
	// keeps the first.
	c := e.Open(consented(t, "webform:first", withConsent("2026-06", t0), t0), t0)
	later := t0.Add(48 * time.Hour)
	c, _ = AttachRepeat(c, consented(t, "webform:later", withConsent("2026-12", later), later), "又来投诉")
	if c.Consent == nil || c.Consent.Version != "2026-06" {
		t.Fatalf("case consent %+v, want the first complaint's", c.Consent)
	}
	if n := len(c.Contacts); n != 1 || c.Contacts[0].Consent == nil || c.Contacts[0].Consent.Version != "2026-12" || !c.Contacts[0].Consent.At.Equal(later) {
		t.Fatalf("contacts %+v, want the later consent on the contact", c.Contacts)
	}
}
