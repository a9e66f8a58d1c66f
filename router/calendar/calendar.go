// Package calendar is the official working-day calendar of the People's
// Republic of China: weekends, the public holidays the State Council
// publishes every year and the weekend days it makes working days (调休),
// with optional business hours. Deadlines counted in working days, hours or
// minutes are computed here.
//
// The holiday arrangements come from github.com/6tail/lunar-go's HolidayUtil
// data, optionally supplemented by a configuration for years the library
// does not know yet. A year is covered only when its whole arrangement is
// known (元旦, 春节, 劳动节 and 国庆节 at least). Because the next year's
// 元旦 arrangement can reach back to 29–31 December, those three days of the
// last covered year are covered only when the following year is. Asking
// about a day that is not covered is an error (ErrNotCovered), never a guess.
//
// A Calendar is immutable after New and safe for concurrent use.
package calendar

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/6tail/lunar-go/HolidayUtil"
)

// ErrNotCovered is wrapped by every error about a day whose official
// arrangement the calendar does not know.
var ErrNotCovered = errors.New("calendar: no official holiday arrangement")

// NotCoveredError names the day that is not covered and what is.
type NotCoveredError struct {
	Date    string // YYYY-MM-DD
	Covered string // e.g. "2002–2027 (2027 up to 12-28)"
}

// Error implements error.
func (e *NotCoveredError) Error() string {
	return fmt.Sprintf("%v for %s (covered: %s)", ErrNotCovered, e.Date, e.Covered)
}

// Unwrap makes errors.Is(err, ErrNotCovered) true.
func (e *NotCoveredError) Unwrap() error { return ErrNotCovered }

// Config configures a Calendar. The zero value is not valid; start from
// DefaultConfig.
type Config struct {
	// TimeZone is the IANA zone days are counted in.
	TimeZone string `yaml:"time_zone"`
	// BusinessHours are the periods of a working day that working hours and
	// working minutes count, e.g. ["08:30-12:00", "13:30-17:30"]. Empty
	// means the whole working day (00:00-24:00).
	BusinessHours []string `yaml:"business_hours"`
	// RequireYears are years the calendar must cover: New fails otherwise.
	RequireYears []int `yaml:"require_years"`
	// Supplement adds official arrangements the library data lacks (a new
	// year published after the library release) or corrects them.
	Supplement []Arrangement `yaml:"supplement"`
}

// Arrangement is one year's official arrangement as the State Council
// notice publishes it. Dates are YYYY-MM-DD or ranges YYYY-MM-DD..YYYY-MM-DD.
// Dates may lie in the last days of the previous year (元旦 arrangements).
type Arrangement struct {
	Year     int      `yaml:"year"`
	Holidays []string `yaml:"holidays"` // 放假 days
	Workdays []string `yaml:"workdays"` // 调休上班 weekend days
	Basis    string   `yaml:"basis"`    // the notice, e.g. 国办发明电〔2025〕7号
}

// DefaultConfig counts days in Asia/Shanghai over whole working days.
func DefaultConfig() Config {
	return Config{TimeZone: "Asia/Shanghai"}
}

// Validate checks the configuration without building the calendar's tables.
func (c *Config) Validate() error {
	_, err := New(*c)
	return err
}

// period is a business period in minutes after midnight, [start, end).
type period struct{ start, end int }

// Calendar answers working-day questions in one time zone.
type Calendar struct {
	loc     *time.Location
	days    map[int]exception // key: yyyymmdd
	years   map[int]bool      // years whose whole arrangement is known
	periods []period          // empty: whole day
}

// exception is a day the official arrangement makes different from its
// weekday: a holiday on a weekday or a working weekend day.
type exception struct {
	work bool
	name string
}

// New builds a calendar from the library data, the configuration's
// supplements and business hours.
func New(cfg Config) (*Calendar, error) {
	var errs []error
	if cfg.TimeZone == "" {
		errs = append(errs, errors.New("time_zone: must not be empty"))
	}
	loc, err := time.LoadLocation(cfg.TimeZone)
	if err != nil {
		errs = append(errs, fmt.Errorf("time_zone: %w", err))
	}
	periods, err := parsePeriods(cfg.BusinessHours)
	if err != nil {
		errs = append(errs, fmt.Errorf("business_hours: %w", err))
	}
	base := official()
	c := &Calendar{loc: loc, periods: periods, days: make(map[int]exception, len(base.days)), years: map[int]bool{}}
	for k, v := range base.days {
		c.days[k] = v
	}
	for y := range base.years {
		c.years[y] = true
	}
	for i, a := range cfg.Supplement {
		if err := c.supplement(a); err != nil {
			errs = append(errs, fmt.Errorf("supplement[%d]: %w", i, err))
		}
	}
	for _, y := range cfg.RequireYears {
		if !c.years[y] {
			errs = append(errs, fmt.Errorf("require_years: %d is not covered by the holiday data (covered: %s); add the State Council arrangement under supplement or upgrade github.com/6tail/lunar-go", y, c.coverage()))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Calendar) supplement(a Arrangement) error {
	if a.Year < 1949 || a.Year > 9999 {
		return fmt.Errorf("year: %d out of range", a.Year)
	}
	if len(a.Holidays) == 0 {
		return errors.New("holidays: must list the year's holidays")
	}
	if strings.TrimSpace(a.Basis) == "" {
		return errors.New("basis: must name the State Council notice")
	}
	add := func(field string, specs []string, work bool) error {
		for _, s := range specs {
			days, err := parseDays(s)
			if err != nil {
				return fmt.Errorf("%s: %w", field, err)
			}
			for _, d := range days {
				if y := d / 10000; y != a.Year && !(y == a.Year-1 && d%10000 >= 1229) {
					return fmt.Errorf("%s: %s is not part of the %d arrangement", field, s, a.Year)
				}
				c.days[d] = exception{work: work, name: "supplement: " + a.Basis}
			}
		}
		return nil
	}
	if err := add("holidays", a.Holidays, false); err != nil {
		return err
	}
	if err := add("workdays", a.Workdays, true); err != nil {
		return err
	}
	c.years[a.Year] = true
	return nil
}

// Location is the zone the calendar counts days in.
func (c *Calendar) Location() *time.Location { return c.loc }

// Years lists the years whose whole official arrangement is known, in order.
func (c *Calendar) Years() []int {
	out := make([]int, 0, len(c.years))
	for y := range c.years {
		out = append(out, y)
	}
	slices.Sort(out)
	return out
}

// Covers reports whether the whole official arrangement of year is known.
func (c *Calendar) Covers(year int) bool { return c.years[year] }

// CoversDay reports whether the calendar can tell whether the day t falls
// on (in the calendar's zone) is a working day.
func (c *Calendar) CoversDay(t time.Time) bool {
	y, m, d := t.In(c.loc).Date()
	return c.covered(y, m, d)
}

func (c *Calendar) covered(y int, m time.Month, d int) bool {
	if !c.years[y] {
		return false
	}
	// The next year's 元旦 arrangement may move 29–31 December.
	return m != time.December || d < 29 || c.years[y+1]
}

// coverage describes the covered years for error messages.
func (c *Calendar) coverage() string {
	years := c.Years()
	if len(years) == 0 {
		return "none"
	}
	var parts []string
	start := years[0]
	for i := 1; i <= len(years); i++ {
		if i < len(years) && years[i] == years[i-1]+1 {
			continue
		}
		end := years[i-1]
		if start == end {
			parts = append(parts, strconv.Itoa(start))
		} else {
			parts = append(parts, fmt.Sprintf("%d–%d", start, end))
		}
		if i < len(years) {
			start = years[i]
		}
	}
	last := years[len(years)-1]
	return fmt.Sprintf("%s (%d up to 12-28)", strings.Join(parts, ", "), last)
}

func (c *Calendar) notCovered(y int, m time.Month, d int) error {
	return &NotCoveredError{Date: fmt.Sprintf("%04d-%02d-%02d", y, m, d), Covered: c.coverage()}
}

// Day describes one day of the calendar.
type Day struct {
	Date    string // YYYY-MM-DD
	Workday bool
	// Name is the holiday or make-up arrangement the day belongs to (e.g.
	// 春节), empty for an ordinary weekday or weekend.
	Name string
}

// Day describes the day t falls on in the calendar's zone.
func (c *Calendar) Day(t time.Time) (Day, error) {
	y, m, d := t.In(c.loc).Date()
	return c.day(y, m, d)
}

func (c *Calendar) day(y int, m time.Month, d int) (Day, error) {
	work, err := c.workday(y, m, d)
	if err != nil {
		return Day{}, err
	}
	return Day{Date: fmt.Sprintf("%04d-%02d-%02d", y, m, d), Workday: work, Name: c.days[y*10000+int(m)*100+d].name}, nil
}

// workday is the fast path of Day.
func (c *Calendar) workday(y int, m time.Month, d int) (bool, error) {
	if !c.covered(y, m, d) {
		return false, c.notCovered(y, m, d)
	}
	if e, ok := c.days[y*10000+int(m)*100+d]; ok {
		return e.work, nil
	}
	wd := time.Date(y, m, d, 12, 0, 0, 0, time.UTC).Weekday()
	return wd != time.Saturday && wd != time.Sunday, nil
}

// IsWorkday reports whether the day t falls on is an official working day.
func (c *Calendar) IsWorkday(t time.Time) (bool, error) {
	y, m, d := t.In(c.loc).Date()
	return c.workday(y, m, d)
}

// midnight is the start of the day d days after the day t falls on.
func (c *Calendar) midnight(t time.Time, d int) time.Time {
	y, m, day := t.In(c.loc).Date()
	return time.Date(y, m, day+d, 0, 0, 0, 0, c.loc)
}

// AddWorkingDays returns the end (24:00, that is the next midnight) of the
// n-th working day after the day t falls on: the day of t itself does not
// count, as with "自接到投诉之日起15个工作日内". n = 0 gives the end of t's day.
func (c *Calendar) AddWorkingDays(t time.Time, n int) (time.Time, error) {
	if n < 0 {
		return time.Time{}, fmt.Errorf("calendar: negative working days %d", n)
	}
	if _, err := c.Day(t); err != nil {
		return time.Time{}, err
	}
	day := c.midnight(t, 0)
	for n > 0 {
		day = c.midnight(day, 1)
		ok, err := c.IsWorkday(day)
		if err != nil {
			return time.Time{}, err
		}
		if ok {
			n--
		}
	}
	return c.midnight(day, 1), nil
}

// AddCalendarDays returns the end of the n-th calendar day after the day t
// falls on (the day of t does not count). It needs no holiday data.
func (c *Calendar) AddCalendarDays(t time.Time, n int) (time.Time, error) {
	if n < 0 {
		return time.Time{}, fmt.Errorf("calendar: negative calendar days %d", n)
	}
	return c.midnight(t, n+1), nil
}

// AddWorkingMinutes returns the instant n minutes of working time after t,
// counting only the business hours of working days.
func (c *Calendar) AddWorkingMinutes(t time.Time, n int) (time.Time, error) {
	return c.AddWorking(t, time.Duration(n)*time.Minute)
}

// AddWorkingHours returns the instant n hours of working time after t.
func (c *Calendar) AddWorkingHours(t time.Time, n int) (time.Time, error) {
	return c.AddWorking(t, time.Duration(n)*time.Hour)
}

// BusinessDayLength is the working time one working day holds: the sum of
// the business periods, or 24 hours without business hours.
func (c *Calendar) BusinessDayLength() time.Duration {
	if len(c.periods) == 0 {
		return 24 * time.Hour
	}
	var total time.Duration
	for _, p := range c.periods {
		total += time.Duration(p.end-p.start) * time.Minute
	}
	return total
}

// spans appends the working spans of the day starting at midnight to
// out[:0] and returns them (the loops over days reuse one buffer).
func (c *Calendar) spans(midnight time.Time, out [][2]time.Time) [][2]time.Time {
	out = out[:0]
	if len(c.periods) == 0 {
		return append(out, [2]time.Time{midnight, c.midnight(midnight, 1)})
	}
	y, m, d := midnight.Date()
	for _, p := range c.periods {
		out = append(out, [2]time.Time{
			time.Date(y, m, d, 0, p.start, 0, 0, c.loc),
			time.Date(y, m, d, 0, p.end, 0, 0, c.loc),
		})
	}
	return out
}

// AddWorking returns the instant d of working time after t. Working time
// runs only inside business hours on working days; a result that exhausts
// a period exactly is that period's end. AddWorking(t, 0) is t.
func (c *Calendar) AddWorking(t time.Time, d time.Duration) (time.Time, error) {
	if d < 0 {
		return time.Time{}, fmt.Errorf("calendar: negative working time %v", d)
	}
	if d == 0 {
		return t, nil
	}
	var buf [4][2]time.Time
	for day := c.midnight(t, 0); ; day = c.midnight(day, 1) {
		ok, err := c.IsWorkday(day)
		if err != nil {
			return time.Time{}, err
		}
		if !ok {
			continue
		}
		for _, s := range c.spans(day, buf[:]) {
			if !t.Before(s[1]) {
				continue
			}
			from := s[0]
			if t.After(from) {
				from = t
			}
			avail := s[1].Sub(from)
			if d <= avail {
				return from.Add(d).In(t.Location()), nil
			}
			d -= avail
		}
	}
}

// WorkingBetween returns the working time in [a, b): business hours of
// working days. It is zero when b is not after a.
func (c *Calendar) WorkingBetween(a, b time.Time) (time.Duration, error) {
	var total time.Duration
	if !b.After(a) {
		return 0, nil
	}
	var buf [4][2]time.Time
	for day := c.midnight(a, 0); day.Before(b); day = c.midnight(day, 1) {
		ok, err := c.IsWorkday(day)
		if err != nil {
			return 0, err
		}
		if !ok {
			continue
		}
		for _, s := range c.spans(day, buf[:]) {
			from, to := s[0], s[1]
			if a.After(from) {
				from = a
			}
			if b.Before(to) {
				to = b
			}
			if to.After(from) {
				total += to.Sub(from)
			}
		}
	}
	return total, nil
}

// parsePeriods parses "HH:MM-HH:MM" periods; they must be ordered and must
// not overlap.
func parsePeriods(specs []string) ([]period, error) {
	var out []period
	for i, s := range specs {
		from, to, ok := strings.Cut(strings.TrimSpace(s), "-")
		if !ok {
			return nil, fmt.Errorf("[%d] %q: want HH:MM-HH:MM", i, s)
		}
		a, err1 := parseClock(from)
		b, err2 := parseClock(to)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("[%d] %q: %w", i, s, err)
		}
		if b <= a {
			return nil, fmt.Errorf("[%d] %q: end must be after start", i, s)
		}
		if len(out) > 0 && a < out[len(out)-1].end {
			return nil, fmt.Errorf("[%d] %q: periods must be in order and must not overlap", i, s)
		}
		out = append(out, period{a, b})
	}
	return out, nil
}

func parseClock(s string) (int, error) {
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || len(m) != 2 || hh < 0 || mm < 0 || mm > 59 || hh > 24 || (hh == 24 && mm != 0) {
		return 0, fmt.Errorf("bad time of day %q", s)
	}
	return hh*60 + mm, nil
}

// parseDays parses YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD into yyyymmdd keys.
func parseDays(s string) ([]int, error) {
	from, to, isRange := strings.Cut(strings.TrimSpace(s), "..")
	a, err := time.Parse(time.DateOnly, strings.TrimSpace(from))
	if err != nil {
		return nil, fmt.Errorf("bad date %q", s)
	}
	b := a
	if isRange {
		if b, err = time.Parse(time.DateOnly, strings.TrimSpace(to)); err != nil || b.Before(a) || b.Sub(a) > 31*24*time.Hour {
			return nil, fmt.Errorf("bad date range %q", s)
		}
	}
	var out []int
	for d := a; !d.After(b); d = d.AddDate(0, 0, 1) {
		out = append(out, d.Year()*10000+int(d.Month())*100+d.Day())
	}
	return out, nil
}

// table is the library's data, read once.
type table struct {
	days  map[int]exception
	years map[int]bool
}

var official = sync.OnceValue(func() table {
	t := table{days: map[int]exception{}, years: map[int]bool{}}
	// names[targetYear] holds the festivals whose days off are known.
	names := map[int]map[string]bool{}
	for y := 1990; y <= 2200; y++ {
		for e := HolidayUtil.GetHolidaysByYear(y).Front(); e != nil; e = e.Next() {
			h := e.Value.(*HolidayUtil.Holiday)
			day, err1 := time.Parse(time.DateOnly, h.GetDay())
			target, err2 := time.Parse(time.DateOnly, h.GetTarget())
			if err1 != nil || err2 != nil {
				continue
			}
			t.days[day.Year()*10000+int(day.Month())*100+day.Day()] = exception{work: h.IsWork(), name: h.GetName()}
			if !h.IsWork() {
				if names[target.Year()] == nil {
					names[target.Year()] = map[string]bool{}
				}
				names[target.Year()][h.GetName()] = true
			}
		}
	}
	for y, n := range names {
		if n["元旦节"] && n["春节"] && n["劳动节"] && (n["国庆节"] || n["国庆中秋"]) {
			t.years[y] = true
		}
	}
	return t
})
