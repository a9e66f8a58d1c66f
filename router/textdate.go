package router

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// TextDate is a date read from a complaint's text: the first and last day
// the words can mean (a whole month for "去年6月份", one day for "12月3号")
// and the words themselves.
type TextDate struct {
	From, To time.Time
	Words    string
	end      int // where the words end in the text
}

// The forms DatesInText reads, most precise first, as patterns: most
// texts lack the characters a form needs (月, 年), and looking for them
// costs less than running the expression. A number is Arabic or
// Chinese (一 to 三十一); a year is four digits.
const (
	cnNum = `[0-9]{1,2}|[一二三四五六七八九十]{1,3}`
)

var (
	// 2026-12-03, 2026/12/3, 2026.12.3, 2026年12月3日
	reFullDate = newPattern(regexp.MustCompile(`(20[0-9]{2})\s*[-/.年]\s*([0-9]{1,2})\s*[-/.月]\s*([0-9]{1,2})\s*[日号]?`))
	// 2026年12月(份)
	reYearMonth = newPattern(regexp.MustCompile(`(20[0-9]{2})\s*年\s*(` + cnNum + `)\s*月`))
	// 去年6月份, 今年3月, 前年十二月(3号)
	reRelYearMonth = newPattern(regexp.MustCompile(`(去年|今年|前年)\s*(` + cnNum + `)\s*月(?:份)?(?:\s*(` + cnNum + `)\s*[日号])?`))
	// 12月3号, 3月2日
	reMonthDay = newPattern(regexp.MustCompile(`(` + cnNum + `)\s*月\s*(` + cnNum + `)\s*[日号]`))
	// 6月份 (not 6个月, not 包月)
	reMonth = newPattern(regexp.MustCompile(`(` + cnNum + `)\s*月份`))
	// 上个月, 上月
	reLastMonth = newPattern(regexp.MustCompile(`上个?月`))
)

// DatesInText reads the dates a complaint's text names, relative to the
// day it was received in loc: full dates (2026-12-03, 2026年12月3日), a
// year and month (2026年12月), a month of this year, last year or the
// year before (今年3月份, 去年6月份, 前年12月), a month and day (12月3号),
// a month alone (6月份) and 上个月. A date without a year is the latest
// such date on or before the received day ("12月3号" received in January
// is last December). Dates after the received day, impossible dates and
// a day of the month alone ("今天都13号了") are not read. Each span of
// text is read once, by its most precise form.
func DatesInText(text string, received time.Time, loc *time.Location) []TextDate {
	r := received.In(loc)
	ry := r.Year()
	taken := make([]bool, len(text)+1)
	var out []TextDate
	add := func(loc []int, from, to time.Time) {
		for i := loc[0]; i < loc[1]; i++ {
			if taken[i] {
				return
			}
		}
		for i := loc[0]; i < loc[1]; i++ {
			taken[i] = true
		}
		if from.IsZero() || from.After(r) {
			return
		}
		out = append(out, TextDate{From: from, To: to, Words: text[loc[0]:loc[1]], end: loc[1]})
	}
	day := func(y, m, d int) time.Time {
		t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, loc)
		if m < 1 || m > 12 || d < 1 || t.Day() != d {
			return time.Time{}
		}
		return t
	}
	month := func(y, m int) (time.Time, time.Time) {
		if m < 1 || m > 12 {
			return time.Time{}, time.Time{}
		}
		from := time.Date(y, time.Month(m), 1, 0, 0, 0, 0, loc)
		return from, from.AddDate(0, 1, -1)
	}
	// without a year: this year, or last year when that lies ahead.
	yearOf := func(m, d int) int {
		if m > int(r.Month()) || (m == int(r.Month()) && d > r.Day()) {
			return ry - 1
		}
		return ry
	}
	for _, m := range reFullDate.findAllSubmatch(text) {
		y, mo, d := atoi(text, m, 1), atoi(text, m, 2), atoi(text, m, 3)
		t := day(y, mo, d)
		add(m, t, t)
	}
	for _, m := range reYearMonth.findAllSubmatch(text) {
		from, to := month(atoi(text, m, 1), cnAtoi(text, m, 2))
		add(m, from, to)
	}
	for _, m := range reRelYearMonth.findAllSubmatch(text) {
		y := ry - map[string]int{"今年": 0, "去年": 1, "前年": 2}[text[m[2]:m[3]]]
		mo := cnAtoi(text, m, 2)
		if m[6] >= 0 {
			t := day(y, mo, cnAtoi(text, m, 3))
			add(m, t, t)
			continue
		}
		from, to := month(y, mo)
		add(m, from, to)
	}
	for _, m := range reMonthDay.findAllSubmatch(text) {
		mo, d := cnAtoi(text, m, 1), cnAtoi(text, m, 2)
		t := day(yearOf(mo, d), mo, d)
		add(m, t, t)
	}
	for _, m := range reMonth.findAllSubmatch(text) {
		mo := cnAtoi(text, m, 1)
		from, to := month(yearOf(mo, 1), mo)
		add(m, from, to)
	}
	for _, m := range reLastMonth.findAll(text) {
		from := time.Date(ry, r.Month()-1, 1, 0, 0, 0, 0, loc)
		add(m, from, from.AddDate(0, 1, -1))
	}
	return out
}

// reBackground is what follows a date that says when something began
// rather than when the matter happened: "2015年3月份就开户了".
var reBackground = regexp.MustCompile(`^[^，。！？,；;]{0,3}?(开户|开的户|入网|办的|办理的|签的|签约|买的|装的|开通的|开的卡|收房|交房|入住)`)

// OccurredInText is the date a complaint's text says its matter
// happened: the latest day any date in the text can mean, so that a rule
// about old matters holds only when every date named is old (a text
// naming last June and this week is not read as old). A date followed by
// what began then (开户, 办的, 入网…) is background and not read. ok is
// false when the text names no other date.
func OccurredInText(text string, received time.Time, loc *time.Location) (TextDate, bool) {
	var best TextDate
	for _, d := range DatesInText(text, received, loc) {
		if reBackground.MatchString(runesAfter(text, d.end, 8)) {
			continue
		}
		if d.To.After(best.To) {
			best = d
		}
	}
	return best, !best.To.IsZero()
}

// reYear is a year alone (2019年, 2019年底), which only EventDateInText
// reads: the year's last day.
var reYear = newPattern(regexp.MustCompile(`(20[0-9]{2})\s*年(?:底|初|末)?`))

// EventDateInText is the date the text gives an event named by one of
// words: the latest day any date right before the words can mean
// (“2023年6月竣工验收”, “2019年竣工验收合格”; a year alone counts as its
// last day), read relative to the received day. ok is false when no date
// stands right before the words.
func EventDateInText(text string, words []string, received time.Time, loc *time.Location) (TextDate, bool) {
	dates := DatesInText(text, received, loc)
	for _, m := range reYear.findAllSubmatch(text) {
		if y := atoi(text, m, 1); y <= received.In(loc).Year() && !slices.ContainsFunc(dates, func(d TextDate) bool { return d.end > m[0] && d.end-len(d.Words) <= m[0] }) {
			dates = append(dates, TextDate{From: time.Date(y, 1, 1, 0, 0, 0, 0, loc), To: time.Date(y, 12, 31, 0, 0, 0, 0, loc), Words: text[m[0]:m[1]], end: m[1]})
		}
	}
	var best TextDate
	for _, d := range dates {
		after := strings.TrimLeft(runesAfter(text, d.end, 10), " 的就是才已经都通过")
		if slices.ContainsFunc(words, func(w string) bool { return strings.HasPrefix(after, w) }) && d.To.After(best.To) {
			best = d
		}
	}
	return best, !best.To.IsZero()
}

// atoi reads submatch i of m in text as an Arabic number.
func atoi(text string, m []int, i int) int {
	n, _ := strconv.Atoi(strings.TrimSpace(text[m[2*i]:m[2*i+1]]))
	return n
}

// cnAtoi reads submatch i of m in text as an Arabic or Chinese number up
// to 99 (六, 十二, 二十三); 0 when it is neither.
func cnAtoi(text string, m []int, i int) int {
	s := strings.TrimSpace(text[m[2*i]:m[2*i+1]])
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	digit := func(r rune) int { return strings.IndexRune("零一二三四五六七八九", r) / 3 }
	rs := []rune(s)
	switch {
	case len(rs) == 1 && rs[0] == '十':
		return 10
	case len(rs) == 1:
		return digit(rs[0])
	case len(rs) == 2 && rs[0] == '十':
		return 10 + digit(rs[1])
	case len(rs) == 2 && rs[1] == '十':
		return digit(rs[0]) * 10
	case len(rs) == 3 && rs[1] == '十':
		return digit(rs[0])*10 + digit(rs[2])
	}
	return 0
}
