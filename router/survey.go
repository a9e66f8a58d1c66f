package router

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Survey is what a follow-up survey link (回访满意度调查) stands for: the
// case it asks about, at the revision the survey was sent for, and until
// when it may be answered. It holds no personal data, because it travels
// in a link the customer may forward.
type Survey struct {
	Case      string    `json:"c"`
	Reference string    `json:"r"`
	Revision  int64     `json:"n"`
	Expires   time.Time `json:"e"`
}

// surveyMACLabel separates survey tokens from every other HMAC the server
// key signs.
const surveyMACLabel = "tousu/survey\x00"

// ErrSurveyToken is wrapped by the error of a survey token that is
// malformed, forged or expired.
var ErrSurveyToken = errors.New("invalid survey token")

var surveyEncoding = base64.RawURLEncoding.Strict()

// SignSurvey returns the token of s: its JSON and an HMAC-SHA256 of it
// under key, each base64url encoded, joined by a dot.
func SignSurvey(key []byte, s Survey) string {
	s.Expires = s.Expires.UTC().Truncate(time.Second)
	payload, _ := json.Marshal(s) // strings, an integer and a time: never fails
	return surveyEncoding.EncodeToString(payload) + "." + surveyEncoding.EncodeToString(surveyMAC(key, payload))
}

// OpenSurvey checks a token SignSurvey made with key and returns its
// survey; an error wraps ErrSurveyToken when the token is malformed, was
// not signed with key, or expired before now.
func OpenSurvey(key []byte, token string, now time.Time) (Survey, error) {
	p, m, ok := strings.Cut(token, ".")
	payload, err1 := surveyEncoding.DecodeString(p)
	mac, err2 := surveyEncoding.DecodeString(m)
	if !ok || err1 != nil || err2 != nil {
		return Survey{}, fmt.Errorf("%w: malformed", ErrSurveyToken)
	}
	if !hmac.Equal(mac, surveyMAC(key, payload)) {
		return Survey{}, fmt.Errorf("%w: bad signature", ErrSurveyToken)
	}
	var s Survey
	if err := json.Unmarshal(payload, &s); err != nil || s.Case == "" {
		return Survey{}, fmt.Errorf("%w: bad payload", ErrSurveyToken)
	}
	if !now.Before(s.Expires) {
		return Survey{}, fmt.Errorf("%w: expired at %s", ErrSurveyToken, s.Expires.Format(time.RFC3339))
	}
	return s, nil
}

func surveyMAC(key, payload []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(surveyMACLabel))
	h.Write(payload)
	return h.Sum(nil)
}

// MaxSurveyComment bounds the comment a customer leaves with a survey
// answer, in characters.
const MaxSurveyComment = 500

// SurveyActor is the actor of the follow-up a customer records by
// answering a survey.
const SurveyActor = "customer"

// SurveyAnswer is the case action that records a customer's answer to a
// survey as the follow-up visit (see FollowUp): a satisfied customer's case
// is closed, an unsatisfied one's reopened. Its ID names the survey, so a
// survey is answered once however often the form is sent. customer is
// the case's customer key, which keys case.actions.
func SurveyAnswer(s Survey, customer string, satisfied bool, comment string, at time.Time) Action {
	comment = strings.TrimSpace(comment)
	if r := []rune(comment); len(r) > MaxSurveyComment {
		comment = string(r[:MaxSurveyComment])
	}
	if comment != "" {
		comment = "客户留言：" + comment
	}
	kind, note := FollowUp(satisfied, comment)
	return Action{V: ActionVersion, ID: fmt.Sprintf("survey/%s/%d", s.Case, s.Revision), Case: s.Case, Customer: customer,
		Kind: kind, Actor: SurveyActor, At: at, Note: "在线评价 · " + note}
}

// SurveyLink is the link of the survey about c as it stands (resolved, at
// its revision), to be answered before expires: base is the public
// address the gateway's pages are served under (e.g.
// https://tousu.example.com), key the installation's survey key.
func SurveyLink(base string, key []byte, c Case, expires time.Time) string {
	ref := ""
	if len(c.References) > 0 {
		ref = c.References[0]
	}
	return strings.TrimSuffix(base, "/") + "/survey?t=" + SignSurvey(key, Survey{Case: c.ID, Reference: ref, Revision: c.Revision, Expires: expires})
}
