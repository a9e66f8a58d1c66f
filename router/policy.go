package router

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tousu/tousu/normalize"
)

// Policy decides what a new complaint is. Implementations are pure: no I/O,
// safe for concurrent use, and the same complaint and instant always give
// the same case, so reprocessing a complaint is harmless.
type Policy interface {
	// Open makes the case a complaint opens, as of now.
	Open(c normalize.Complaint, now time.Time) Case
}

// Category is one entry of a policy's taxonomy with the keywords that put a
// complaint in it.
type Category struct {
	Name     string   `yaml:"name"`
	Keywords []string `yaml:"keywords"`
}

// Config is the placeholder keyword policy: the first category whose keyword
// appears in the subject or description wins, otherwise DefaultCategory; the
// reply deadline is ReplyWorkingDays working days after receipt.
type Config struct {
	Categories       []Category `yaml:"categories"`
	DefaultCategory  string     `yaml:"default_category"`
	ReplyWorkingDays int        `yaml:"reply_working_days"`
	// ReplyBasis names the rule the reply deadline comes from.
	ReplyBasis string `yaml:"reply_basis"`
	// TimeZone is the zone working days are counted in.
	TimeZone string `yaml:"time_zone"`
}

// DefaultConfig is the telecom work-order taxonomy with the 15 working day
// reply limit of the 2001 MII rules.
func DefaultConfig() Config {
	return Config{
		Categories: []Category{
			{Name: "网络问题", Keywords: []string{"信号", "网速", "断网", "掉线", "上不了网", "没有网络", "基站", "通话中断"}},
			{Name: "费用问题", Keywords: []string{"扣费", "话费", "收费", "账单", "多收", "乱收费", "退费", "资费"}},
			{Name: "不知情定制问题", Keywords: []string{"不知情", "未经同意", "私自开通", "莫名其妙开通", "被订购", "定制"}},
			{Name: "信息安全问题", Keywords: []string{"泄露", "骚扰电话", "垃圾短信", "诈骗", "个人信息"}},
			{Name: "营销活动问题", Keywords: []string{"活动", "优惠", "促销", "赠送", "积分"}},
			{Name: "业务办理问题", Keywords: []string{"办理", "销户", "携号转网", "过户", "补卡", "营业厅"}},
			{Name: "业务使用问题", Keywords: []string{"无法使用", "用不了", "故障", "打不开", "登录"}},
			{Name: "服务问题", Keywords: []string{"态度", "客服", "投诉无人处理", "没人管", "推诿"}},
		},
		DefaultCategory:  "服务问题",
		ReplyWorkingDays: 15,
		ReplyBasis:       "电信用户申诉处理暂行办法（信息产业部令第7号）第八条：接到用户投诉之日起15个工作日内答复用户",
		TimeZone:         "Asia/Shanghai",
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for i, cat := range c.Categories {
		if strings.TrimSpace(cat.Name) == "" {
			errs = append(errs, fmt.Errorf("categories[%d].name: must not be empty", i))
		}
		if seen[cat.Name] {
			errs = append(errs, fmt.Errorf("categories[%d].name: %q listed twice", i, cat.Name))
		}
		seen[cat.Name] = true
		if len(cat.Keywords) == 0 {
			errs = append(errs, fmt.Errorf("categories[%d].keywords: must not be empty", i))
		}
	}
	if !seen[c.DefaultCategory] {
		errs = append(errs, fmt.Errorf("default_category: %q is not one of the categories", c.DefaultCategory))
	}
	if c.ReplyWorkingDays <= 0 {
		errs = append(errs, fmt.Errorf("reply_working_days: must be positive, got %d", c.ReplyWorkingDays))
	}
	if _, err := time.LoadLocation(c.TimeZone); err != nil || c.TimeZone == "" {
		errs = append(errs, fmt.Errorf("time_zone: unknown zone %q", c.TimeZone))
	}
	return errors.Join(errs...)
}

// Keywords is the placeholder Policy of the walking skeleton.
type Keywords struct {
	cfg Config
	loc *time.Location
}

// NewKeywords returns the keyword policy for a validated config.
func NewKeywords(cfg Config) (*Keywords, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	loc, err := time.LoadLocation(cfg.TimeZone)
	if err != nil {
		return nil, err
	}
	return &Keywords{cfg: cfg, loc: loc}, nil
}

// Open implements Policy.
func (k *Keywords) Open(c normalize.Complaint, now time.Time) Case {
	decision := Decision{Category: k.cfg.DefaultCategory, Reason: "no keyword matched: default category", Confidence: 0.2}
	text := c.Subject + "\n" + c.Description
	for _, cat := range k.cfg.Categories {
		if kw := firstContained(text, cat.Keywords); kw != "" {
			decision = Decision{Category: cat.Name, Reason: fmt.Sprintf("keyword %q", kw), Confidence: 0.8}
			break
		}
	}
	received := c.ReceivedAt
	if received.IsZero() {
		received = now
	}
	reply := Deadline{
		Name:  "reply",
		Due:   AddWorkingDays(received, k.cfg.ReplyWorkingDays, k.loc),
		Basis: k.cfg.ReplyBasis,
	}
	return Case{
		V:           SchemaVersion,
		ID:          c.Reference,
		Revision:    1,
		References:  []string{c.Reference},
		Complaints:  []string{c.ID},
		Channel:     c.Channel,
		Source:      c.Source,
		Customer:    c.Customer,
		Subject:     c.Subject,
		Description: c.Description,
		Attachments: c.Attachments,
		Category:    decision.Category,
		Decision:    decision,
		Status:      StatusOpen,
		ReceivedAt:  received,
		UpdatedAt:   received,
		Deadlines:   []Deadline{reply},
		Deadline:    reply.Due,
	}
}

func firstContained(text string, keywords []string) string {
	for _, kw := range keywords {
		if strings.Contains(text, kw) {
			return kw
		}
	}
	return ""
}

// AddWorkingDays returns the end of the n-th working day after the day t
// falls on in loc (the day of receipt does not count). Placeholder calendar:
// Monday to Friday; the official calendar with public holidays and make-up
// working days (调休) replaces it with the policy engine.
func AddWorkingDays(t time.Time, n int, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	day := time.Date(y, m, d, 0, 0, 0, 0, loc)
	for n > 0 {
		day = day.AddDate(0, 0, 1)
		if wd := day.Weekday(); wd != time.Saturday && wd != time.Sunday {
			n--
		}
	}
	return day.AddDate(0, 0, 1).UTC()
}
