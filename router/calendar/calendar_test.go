package calendar

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func newCalendar(tb testing.TB, cfg Config) *Calendar {
	tb.Helper()
	c, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

var shanghai = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return loc
}()

func at(tb testing.TB, s string) time.Time {
	tb.Helper()
	for _, layout := range []string{"2006-01-02 15:04", time.DateOnly} {
		if t, err := time.ParseInLocation(layout, s, shanghai); err == nil {
			return t
		}
	}
	tb.Fatalf("bad time %q", s)
	return time.Time{}
}

// The official arrangements, as published by the State Council:
// 2025: 国办发明电〔2024〕12号 (12 November 2024);
// 2026: 国办发明电〔2025〕7号 (4 November 2025).
func TestOfficialDays(t *testing.T) {
	c := newCalendar(t, DefaultConfig())
	tests := []struct {
		date    string
		workday bool
		name    string
	}{
		// 2025
		{"2025-01-01", false, "元旦节"},
		{"2025-01-26", true, "春节"}, // Sunday made a working day
		{"2025-01-27", true, ""},
		{"2025-01-28", false, "春节"}, // 除夕
		{"2025-02-04", false, "春节"},
		{"2025-02-05", true, ""},
		{"2025-02-08", true, "春节"}, // Saturday made a working day
		{"2025-02-09", false, ""},
		{"2025-04-04", false, "清明节"},
		{"2025-04-27", true, "劳动节"}, // Sunday
		{"2025-05-05", false, "劳动节"},
		{"2025-06-02", false, "端午节"},
		{"2025-09-27", false, ""},
		{"2025-09-28", true, "国庆中秋"}, // Sunday
		{"2025-10-01", false, "国庆中秋"},
		{"2025-10-08", false, "国庆中秋"},
		{"2025-10-09", true, ""},
		{"2025-10-11", true, "国庆中秋"}, // Saturday
		{"2025-10-12", false, ""},
		{"2025-12-31", true, ""},
		// 2026
		{"2026-01-01", false, "元旦节"},
		{"2026-01-02", false, "元旦节"},
		{"2026-01-04", true, "元旦节"}, // Sunday
		{"2026-02-13", true, ""},
		{"2026-02-14", true, "春节"}, // Saturday
		{"2026-02-15", false, "春节"},
		{"2026-02-23", false, "春节"},
		{"2026-02-24", true, ""},
		{"2026-02-28", true, "春节"}, // Saturday
		{"2026-04-06", false, "清明节"},
		{"2026-05-05", false, "劳动节"},
		{"2026-05-09", true, "劳动节"}, // Saturday
		{"2026-06-19", false, "端午节"},
		{"2026-09-20", true, "国庆节"}, // Sunday
		{"2026-09-25", false, "中秋节"},
		{"2026-10-07", false, "国庆节"},
		{"2026-10-08", true, ""},
		{"2026-10-10", true, "国庆节"}, // Saturday
		{"2026-11-28", false, ""},
	}
	for _, tt := range tests {
		d, err := c.Day(at(t, tt.date))
		if err != nil {
			t.Errorf("%s: %v", tt.date, err)
			continue
		}
		if d.Workday != tt.workday || d.Name != tt.name || d.Date != tt.date {
			t.Errorf("Day(%s) = %+v, want workday %v name %q", tt.date, d, tt.workday, tt.name)
		}
	}
}

// TestWorkingDaysPerYear counts each year's working days: 248 in both 2025
// and 2026 per the notices (261 weekdays, 18 resp. 19 weekday holidays, 5
// resp. 6 make-up weekend days), computed independently of the library.
func TestWorkingDaysPerYear(t *testing.T) {
	c := newCalendar(t, DefaultConfig())
	for year, want := range map[int]int{2025: 248, 2026: 248} {
		n := 0
		for d := time.Date(year, 1, 1, 12, 0, 0, 0, shanghai); d.Year() == year; d = d.AddDate(0, 0, 1) {
			ok, err := c.IsWorkday(d)
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				n++
			}
		}
		if n != want {
			t.Errorf("%d has %d working days, want %d", year, n, want)
		}
	}
}

func TestAddWorkingDays(t *testing.T) {
	c := newCalendar(t, DefaultConfig())
	// Expected values come from a separate script over the notices' dates.
	tests := []struct {
		from string
		n    int
		want string // the midnight ending the last working day
	}{
		{"2025-01-24 10:00", 1, "2025-01-27"},  // Sunday 26 Jan is a working day
		{"2025-01-27 10:00", 1, "2025-02-06"},  // Spring Festival 28 Jan–4 Feb
		{"2025-01-20 10:00", 15, "2025-02-15"}, // runs through the festival to Friday 14 Feb
		{"2025-09-26 16:00", 15, "2025-10-24"}, // National Day 1–8 Oct, Sunday 28 Sep and Saturday 11 Oct worked
		{"2025-09-28 09:00", 1, "2025-09-30"},  // received on a make-up Sunday
		{"2025-10-03 09:00", 1, "2025-10-10"},  // received during the holiday
		{"2025-12-31 23:59", 1, "2026-01-05"},  // across the year end: 元旦 1–3 Jan, Sunday 4 Jan worked
		{"2025-12-31 08:00", 15, "2026-01-23"},
		{"2025-12-19 08:00", 10, "2026-01-06"},
		{"2026-02-13 10:00", 1, "2026-02-15"}, // Saturday 14 Feb worked
		{"2026-02-13 10:00", 15, "2026-03-13"},
		{"2026-09-18 10:00", 15, "2026-10-16"},
		{"2026-09-30 10:00", 3, "2026-10-11"}, // Thursday 8, Friday 9, Saturday 10 Oct
		{"2026-04-30 10:00", 5, "2026-05-12"},
		{"2026-11-26 10:00", 15, "2026-12-18"},
		{"2026-12-31 10:00", 0, "2027-01-01"},
	}
	for _, tt := range tests {
		got, err := c.AddWorkingDays(at(t, tt.from), tt.n)
		if err != nil {
			t.Errorf("%s + %d: %v", tt.from, tt.n, err)
			continue
		}
		if want := at(t, tt.want); !got.Equal(want) {
			t.Errorf("%s + %d working days = %v, want %v", tt.from, tt.n, got.In(shanghai), want)
		}
	}
}

func TestZoneDecidesTheDay(t *testing.T) {
	// 2025-01-25 20:00 UTC is Sunday 26 Jan 04:00 in Shanghai, a working day;
	// in UTC it is Saturday 25 Jan, a day off.
	instant := time.Date(2025, 1, 25, 20, 0, 0, 0, time.UTC)
	for zone, want := range map[string]bool{"Asia/Shanghai": true, "UTC": false} {
		c := newCalendar(t, Config{TimeZone: zone})
		got, err := c.IsWorkday(instant)
		if err != nil || got != want {
			t.Errorf("%s: IsWorkday = %v, %v; want %v", zone, got, err, want)
		}
	}
}

func TestAddCalendarDays(t *testing.T) {
	c := newCalendar(t, DefaultConfig())
	got, err := c.AddCalendarDays(at(t, "2025-12-30 15:00"), 3)
	if want := at(t, "2026-01-03"); err != nil || !got.Equal(want) {
		t.Errorf("AddCalendarDays = %v, %v; want %v", got, err, want)
	}
}

func TestBusinessHours(t *testing.T) {
	c := newCalendar(t, Config{TimeZone: "Asia/Shanghai", BusinessHours: []string{"08:30-12:00", "13:30-17:30"}})
	if got := c.BusinessDayLength(); got != 7*time.Hour+30*time.Minute {
		t.Errorf("BusinessDayLength = %v", got)
	}
	tests := []struct {
		from    string
		minutes int
		want    string
	}{
		{"2025-09-26 10:00", 30, "2025-09-26 10:30"},
		{"2025-09-26 11:00", 60, "2025-09-26 12:00"},       // exhausts the morning exactly
		{"2025-09-26 11:30", 60, "2025-09-26 14:00"},       // over lunch
		{"2025-09-26 12:30", 30, "2025-09-26 14:00"},       // received at lunch
		{"2025-09-26 07:00", 30, "2025-09-26 09:00"},       // before opening
		{"2025-09-26 16:30", 120, "2025-09-28 09:30"},      // Friday to the make-up Sunday
		{"2025-09-30 17:00", 60, "2025-10-09 09:00"},       // over National Day
		{"2025-09-30 20:00", 210, "2025-10-09 12:00"},      // after closing: the next morning is exactly 3.5 h
		{"2025-12-31 17:00", 60, "2026-01-04 09:00"},       // across the year end to Sunday 4 Jan
		{"2026-02-13 17:00", 8 * 60, "2026-02-14 17:30"},   // Friday, then all of Saturday 14 Feb
		{"2026-02-13 17:00", 8*60 + 1, "2026-02-24 08:31"}, // then the festival
		{"2026-02-13 09:00", 0, "2026-02-13 09:00"},
	}
	for _, tt := range tests {
		got, err := c.AddWorkingMinutes(at(t, tt.from), tt.minutes)
		if err != nil {
			t.Errorf("%s + %d min: %v", tt.from, tt.minutes, err)
			continue
		}
		if want := at(t, tt.want); !got.Equal(want) {
			t.Errorf("%s + %d working minutes = %v, want %v", tt.from, tt.minutes, got.In(shanghai), want)
		}
	}
	got, err := c.AddWorkingHours(at(t, "2025-09-26 16:30"), 8)
	if want := at(t, "2025-09-28 17:00"); err != nil || !got.Equal(want) {
		t.Errorf("AddWorkingHours = %v, %v; want %v", got.In(shanghai), err, want)
	}
}

func TestWorkingBetween(t *testing.T) {
	hours := newCalendar(t, Config{TimeZone: "Asia/Shanghai", BusinessHours: []string{"08:30-12:00", "13:30-17:30"}})
	whole := newCalendar(t, DefaultConfig())
	tests := []struct {
		c        *Calendar
		from, to string
		want     time.Duration
	}{
		{hours, "2025-09-26 16:30", "2025-09-28 09:30", 2 * time.Hour},
		{hours, "2025-09-30 12:00", "2025-10-09 08:30", 4 * time.Hour},
		{hours, "2025-09-30 12:00", "2025-09-30 11:00", 0},
		{whole, "2026-02-13 12:00", "2026-02-24 00:00", 36 * time.Hour}, // half of Friday, Saturday 14 Feb
		{whole, "2025-12-31 00:00", "2026-01-05 00:00", 48 * time.Hour},
	}
	for _, tt := range tests {
		got, err := tt.c.WorkingBetween(at(t, tt.from), at(t, tt.to))
		if err != nil || got != tt.want {
			t.Errorf("WorkingBetween(%s, %s) = %v, %v; want %v", tt.from, tt.to, got, err, tt.want)
		}
	}
	// AddWorking and WorkingBetween agree.
	from := at(t, "2025-09-26 16:30")
	to, err := hours.AddWorking(from, 11*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if d, err := hours.WorkingBetween(from, to); err != nil || d != 11*time.Hour {
		t.Errorf("round trip: %v, %v", d, err)
	}
}

func TestCoverage(t *testing.T) {
	c := newCalendar(t, DefaultConfig())
	years := c.Years()
	for _, y := range []int{2002, 2024, 2025, 2026, 2027} {
		if !c.Covers(y) || !slices.Contains(years, y) {
			t.Errorf("year %d not covered (%v)", y, years)
		}
	}
	for _, y := range []int{2001, 2028} {
		if c.Covers(y) {
			t.Errorf("year %d covered", y)
		}
	}
	tests := []struct {
		name string
		call func() error
		ok   bool
	}{
		{"last certain day", func() error { _, err := c.IsWorkday(at(t, "2027-12-28")); return err }, true},
		{"tail of the last year", func() error { _, err := c.IsWorkday(at(t, "2027-12-29")); return err }, false},
		{"year after", func() error { _, err := c.IsWorkday(at(t, "2028-01-03")); return err }, false},
		{"year before", func() error { _, err := c.IsWorkday(at(t, "2001-06-01")); return err }, false},
		{"counting into an unknown year", func() error { _, err := c.AddWorkingDays(at(t, "2027-12-20"), 15); return err }, false},
		{"working minutes into an unknown year", func() error {
			_, err := c.AddWorkingMinutes(at(t, "2027-12-28 10:00"), 24*60)
			return err
		}, false},
		{"between into an unknown year", func() error {
			_, err := c.WorkingBetween(at(t, "2027-12-01"), at(t, "2028-02-01"))
			return err
		}, false},
	}
	for _, tt := range tests {
		err := tt.call()
		if tt.ok != (err == nil) {
			t.Errorf("%s: err = %v", tt.name, err)
		}
		if err != nil && (!errors.Is(err, ErrNotCovered) || !strings.Contains(err.Error(), "2002–2027")) {
			t.Errorf("%s: err = %v, want ErrNotCovered naming the coverage", tt.name, err)
		}
	}
}

func TestSupplement(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RequireYears = []int{2028}
	cfg.Supplement = []Arrangement{{
		Year:     2028,
		Holidays: []string{"2028-01-01", "2028-01-25..2028-02-01"},
		Workdays: []string{"2028-01-23"},
		Basis:    "test arrangement",
	}}
	c := newCalendar(t, cfg)
	for date, want := range map[string]bool{"2027-12-29": true, "2028-01-23": true, "2028-01-26": false, "2028-02-02": true} {
		got, err := c.IsWorkday(at(t, date))
		if err != nil || got != want {
			t.Errorf("IsWorkday(%s) = %v, %v; want %v", date, got, err, want)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"zone", Config{TimeZone: "Mars/Olympus"}, "time_zone"},
		{"empty zone", Config{}, "time_zone"},
		{"hours syntax", Config{TimeZone: "UTC", BusinessHours: []string{"0830-1200"}}, "business_hours"},
		{"hours order", Config{TimeZone: "UTC", BusinessHours: []string{"13:00-17:00", "08:00-12:00"}}, "must not overlap"},
		{"hours empty", Config{TimeZone: "UTC", BusinessHours: []string{"12:00-12:00"}}, "end must be after start"},
		{"bad minute", Config{TimeZone: "UTC", BusinessHours: []string{"08:60-12:00"}}, "bad time of day"},
		{"uncovered year", Config{TimeZone: "UTC", RequireYears: []int{2031}}, "2031 is not covered"},
		{"supplement basis", Config{TimeZone: "UTC", Supplement: []Arrangement{{Year: 2031, Holidays: []string{"2031-01-01"}}}}, "basis"},
		{"supplement date", Config{TimeZone: "UTC", Supplement: []Arrangement{{Year: 2031, Holidays: []string{"2031-13-01"}, Basis: "x"}}}, "bad date"},
		{"supplement year", Config{TimeZone: "UTC", Supplement: []Arrangement{{Year: 2031, Holidays: []string{"2030-06-01"}, Basis: "x"}}}, "not part of the 2031"},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Validate() = %v, want it to mention %q", tt.name, err, tt.want)
		}
	}
	if cfg := DefaultConfig(); cfg.Validate() != nil {
		t.Error("DefaultConfig invalid")
	}
}

func BenchmarkAddWorkingDays(b *testing.B) {
	c := newCalendar(b, DefaultConfig())
	t0 := at(b, "2025-09-26 16:00")
	for b.Loop() {
		if _, err := c.AddWorkingDays(t0, 15); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAddWorkingMinutes(b *testing.B) {
	c := newCalendar(b, Config{TimeZone: "Asia/Shanghai", BusinessHours: []string{"08:30-12:00", "13:30-17:30"}})
	t0 := at(b, "2025-09-30 16:00")
	for b.Loop() {
		if _, err := c.AddWorkingMinutes(t0, 240); err != nil {
			b.Fatal(err)
		}
	}
}
