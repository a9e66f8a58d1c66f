package normalize

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/tousu/tousu/ingest"
)

func TestSubjectReferences(t *testing.T) {
	a := ingest.ReferenceFor("email:a") // real references, as customers get them
	b := ingest.ReferenceFor("email:b")
	tests := []struct {
		name, subject string
		want          []string
	}{
		{"bracketed", "Re: [" + a + "] 宽带故障", []string{a}},
		{"after Han characters and a full-width colon", "回复：受理编号" + a, []string{a}},
		{"after Han characters, before Han characters", "受理编号" + a + "的处理进度", []string{a}},
		{"whole subject", a, []string{a}},
		{"lower case", strings.ToLower(a) + " 的进度", []string{a}},
		{"mixed case", "ts0123456789", []string{"TS0123456789"}},
		{"several, in order, each once", "Re: " + b + " / " + a + " / " + strings.ToLower(b), []string{b, a}},
		{"punctuation around", "(" + a + "),(" + b + ")", []string{a, b}},
		{"underscore and hyphen delimit", "x_" + a + "-y", []string{a}},
		{"letter before", "X" + a, nil},
		{"digit before", "1" + a, nil},
		{"letter after", a + "X", nil},
		{"digit after", "TS01234567890", nil},
		{"too short", "TS012345678", nil},
		{"too short at the end", "Re: TS012345678", nil},
		{"I is not in the alphabet", "TS01234567I9", nil},
		{"L is not in the alphabet", "TS0123456L89", nil},
		{"O is not in the alphabet", "TSO123456789", nil},
		{"U is not in the alphabet", "TS012345678U", nil},
		{"lower-case o is not either", "ts0123456789o ts012345678o", nil},
		{"not TS", "TX0123456789", nil},
		{"T and S apart", "T S0123456789", nil},
		{"two references run together", "TS0123456789TS0123456789", nil},
		{"after a rejected token", "TSTS0123456789", nil},
		{"invalid UTF-8 delimits", "\xff" + a + "\xfe", []string{a}},
		{"inside a multi-byte sequence", "编号" + a + "号", []string{a}},
		{"empty", "", nil},
		{"no reference", "宽带又断网了", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := SubjectReferences(tc.subject); !slices.Equal(got, tc.want) {
				t.Errorf("SubjectReferences(%q) = %q, want %q", tc.subject, got, tc.want)
			}
		})
	}
}

func TestReplyClues(t *testing.T) {
	const key = "email:colleague@example.com"
	a, b := ingest.ReferenceFor("email:a"), ingest.ReferenceFor("email:b")
	mail := func(subject, inReplyTo, references string) Complaint {
		c := email("email:9", key, "好的，补充一下情况", 0, "m9@colleague.example", inReplyTo, references)
		c.Subject = CleanText(subject)
		return c
	}
	api := complaint("api:9", key, "好的", 0)
	api.Subject = "Re: [" + a + "]"
	api.Extra = map[string]string{ExtraInReplyTo: "m1@x", ExtraReferences: "m0@x m1@x"}
	own := mail("", "", "")
	own.Subject = "Re: " + own.Reference + " " + a

	var many []string
	for i := range 100 {
		many = append(many, fmt.Sprintf("m%d@x", i))
	}
	var wantMany []string // the nearest ancestors, then the root
	for i := 99; len(wantMany) < MaxReplyMessageIDs-1; i-- {
		wantMany = append(wantMany, fmt.Sprintf("m%d@x", i))
	}
	wantMany = append(wantMany, "m0@x")
	long, bound := strings.Repeat("x", MaxMessageIDBytes)+"@x", strings.Repeat("x", MaxMessageIDBytes-2)+"@x"
	var subjectMany []string
	for i := range 2 * MaxReplyRefs {
		subjectMany = append(subjectMany, ingest.ReferenceFor(fmt.Sprint("email:", i)))
	}

	tests := []struct {
		name     string
		c        Complaint
		refs     []string
		ids      []string
		reversed bool
	}{
		{"subject and headers", mail("Re: ["+a+"] 宽带故障", "m2@x", "m0@x m1@x m2@x"), []string{a}, []string{"m2@x", "m1@x", "m0@x"}, false},
		{"full-width reference after normalisation", mail("回复：受理编号"+toFullWidth(a), "", ""), []string{a}, nil, false},
		{"In-Reply-To first, then References from the nearest", mail("", "p@x", "r@x s@x t@x"), nil, []string{"p@x", "t@x", "s@x", "r@x"}, false},
		{"an id named twice is kept where it comes first", mail("", "t@x", "r@x t@x s@x t@x"), nil, []string{"t@x", "s@x", "r@x"}, false},
		{"whitespace of any kind separates ids", mail("", " \tp@x\n", "\tr@x   s@x "), nil, []string{"p@x", "s@x", "r@x"}, false},
		{"References only", mail("", "", "r@x s@x"), nil, []string{"s@x", "r@x"}, false},
		{"a huge References: bounded, the root kept", mail("", "", strings.Join(many, " ")), nil, wantMany, false},
		{"a huge References naming In-Reply-To too", mail("", "m99@x", strings.Join(many, " ")), nil, wantMany, false},
		{"a huge In-Reply-To fills every place", mail("", strings.Join(many, " "), "root@x"), nil, many[:MaxReplyMessageIDs], false},
		{"References of exactly the bound are not cut", mail("", "", strings.Join(many[:MaxReplyMessageIDs], " ")), nil, many[:MaxReplyMessageIDs], true},
		{"many references in the subject are bounded", mail(strings.Join(subjectMany, " "), "", ""), subjectMany[:MaxReplyRefs], nil, false},
		{"the complaint's own reference is no clue", own, []string{a}, nil, false},
		{"both references", mail(a+" "+b, "", ""), []string{a, b}, nil, false},
		{"an overlong Message-ID is no clue", mail("", long, "r@x "+strings.Repeat("y", MaxMessageIDBytes)+"@x"), nil, []string{"r@x"}, false},
		{"a Message-ID of the bound is one", mail("", bound, ""), nil, []string{bound}, false},
		{"no clues", mail("宽带故障", "", ""), nil, nil, false},
		{"not e-mail", api, nil, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.ids
			if tc.reversed {
				want = slices.Clone(want)
				slices.Reverse(want)
			}
			refs, ids := ReplyClues(tc.c)
			if !slices.Equal(refs, tc.refs) {
				t.Errorf("refs = %q, want %q", refs, tc.refs)
			}
			if !slices.Equal(ids, want) {
				t.Errorf("message ids = %q, want %q", ids, want)
			}
			if len(refs) > MaxReplyRefs || len(ids) > MaxReplyMessageIDs {
				t.Errorf("%d refs, %d ids: over the bounds", len(refs), len(ids))
			}
		})
	}
}

// toFullWidth turns ASCII letters and digits into their full-width forms,
// as a phone keyboard may type them.
func toFullWidth(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' {
			return r - '!' + '！'
		}
		return r
	}, s)
}

// TestReplyIDsUnbounded: Decide reads every id, so a reply naming the
// case's first mail deep in a long References header still attaches.
func TestReplyIDsUnbounded(t *testing.T) {
	var refs []string
	for i := range 200 {
		refs = append(refs, fmt.Sprintf("m%d@x", i))
	}
	c := email("email:9", "email:a@x", "好的", 0, "", "", strings.Join(refs, " "))
	ids := replyIDsOf(c, 0)
	if len(ids) != len(refs) || ids[0].id != "m199@x" || ids[len(ids)-1].id != "m0@x" || ids[0].header != ThreadByReferences {
		t.Errorf("unbounded: %d ids, first %+v", len(ids), ids[0])
	}
}

func TestThreadJSON(t *testing.T) {
	c := complaint("email:1", "email:b@example.com", "好的", 0)
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "thread") {
		t.Errorf("a complaint without thread writes one: %s", b)
	}
	c.Thread = &Thread{Case: "TS0123456789", Customer: "email:a@example.com", State: CaseResolved, By: ThreadBySubject, Ref: "TS0123456789"}
	if b, err = json.Marshal(c); err != nil {
		t.Fatal(err)
	}
	var back Complaint
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Thread == nil || *back.Thread != *c.Thread || !back.Thread.State.Finished() {
		t.Errorf("round trip of %s: %+v", b, back.Thread)
	}
}

// FuzzSubjectReferences: whatever the subject, every reference found is a
// well-formed upper-case reference that the subject holds as a whole
// token, found once; a reference set into the subject between delimiters
// is always found.
func FuzzSubjectReferences(f *testing.F) {
	a := ingest.ReferenceFor("email:a")
	for _, s := range []string{"Re: [" + a + "] 宽带故障", "回复：受理编号" + a, "ts0123456789", "TS01234567890", "TSTS0123456789",
		"\xff" + a, "", "TSO123456789", a + a, strings.Repeat("ts", 300)} {
		f.Add(s, "回复：", "】")
	}
	f.Fuzz(func(t *testing.T, subject, before, after string) {
		got := SubjectReferences(subject)
		upper := strings.ToUpper(subject)
		for i, r := range got {
			if len(r) != referenceLen || r[:2] != "TS" || strings.IndexFunc(r[2:], func(c rune) bool { return !crockford(byte(c)) || c > 0x7f }) >= 0 {
				t.Fatalf("%q: malformed reference %q", subject, r)
			}
			if !strings.Contains(upper, r) || slices.Contains(got[:i], r) {
				t.Fatalf("%q: %q not in the subject or found twice (%q)", subject, r, got)
			}
		}
		if again := SubjectReferences(subject); !slices.Equal(got, again) {
			t.Fatalf("not deterministic: %q then %q", got, again)
		}
		// a between delimiters is always found: trim any ASCII letter or
		// digit next to it.
		before = strings.TrimRightFunc(before, func(r rune) bool { return r < 0x80 && asciiAlnum(byte(r)) })
		after = strings.TrimLeftFunc(after, func(r rune) bool { return r < 0x80 && asciiAlnum(byte(r)) })
		if before != "" && !strings.HasSuffix(before, " ") {
			before += " "
		}
		if s := subject + " " + before + a + after; !slices.Contains(SubjectReferences(s), a) {
			t.Fatalf("%q: %s not found", s, a)
		}
	})
}
