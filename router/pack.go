package router

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tousu/tousu/configs"
	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/router/calendar"
)

// Pack is a policy pack: one organisation type's complaint rules, decoded
// strictly from YAML. Every rule and every number carries its Ground: the
// seed document and clause it comes from (basis), or default: true where
// the seeds are silent and the value is a configurable default.
type Pack struct {
	Name    string `yaml:"name"`
	Title   string `yaml:"title"`
	Version string `yaml:"version"`
	// Sources are the documents bases cite, by id.
	Sources  []Source        `yaml:"sources"`
	Calendar calendar.Config `yaml:"calendar"`
	// Events are the case events besides "received" that can start a clock.
	Events       []string       `yaml:"events"`
	ContactTypes ContactTypes   `yaml:"contact_types"`
	Categories   Categories     `yaml:"categories"`
	Validity     ValidityRules  `yaml:"validity"`
	Grades       Grades         `yaml:"grades"`
	Clocks       []Clock        `yaml:"clocks"`
	Routing      Routing        `yaml:"routing"`
	Escalation   EscalationPlan `yaml:"escalation"`
	// Customer is what the customer is shown of the pack's rules.
	Customer CustomerRules `yaml:"customer"`
}

// CustomerRules are the parts of a pack a customer sees on the status
// page: the deadline they are told and where they may turn when they are
// not satisfied with the result.
type CustomerRules struct {
	// Clock names the pack's clock whose deadline the customer is told
	// (答复用户); empty: MainDeadline's choice.
	Clock string `yaml:"clock"`
	// Appeal is the next step the rules give a customer who is not
	// satisfied (the regulator's complaint channel); nil when the seeds
	// name none.
	Appeal *Appeal `yaml:"appeal"`
}

// Appeal is where a customer may turn after the result: Text for the
// customer, with the clause that gives the right (a Basis is required).
type Appeal struct {
	Text   string `yaml:"text"`
	Ground `yaml:",inline"`
}

// Source is a document the pack's rules come from.
type Source struct {
	ID    string `yaml:"id"`
	Title string `yaml:"title"`
	Note  string `yaml:"note"`
}

// Basis cites a clause of a source document.
type Basis struct {
	Source string `yaml:"source"`
	Clause string `yaml:"clause"`
	Quote  string `yaml:"quote"`
}

// Ground says where a rule or number comes from: a Basis, or Default when
// the seeds are silent (both when the seeds require something but give no
// number). Note explains a default.
type Ground struct {
	Basis   *Basis `yaml:"basis"`
	Default bool   `yaml:"default"`
	Note    string `yaml:"note"`
}

// ContactTypes defines the contact types (查询, 咨询, 障碍申告, 投诉) and the
// ordered rules that pick one; the first matching rule wins, Default
// otherwise.
type ContactTypes struct {
	Types   []Definition `yaml:"types"`
	Default string       `yaml:"default"`
	Rules   []TypeRule   `yaml:"rules"`
}

// Definition is a named entry of a pack's vocabulary with its definition.
type Definition struct {
	Name       string `yaml:"name"`
	Definition string `yaml:"definition"`
	Ground     `yaml:",inline"`
}

// TypeRule sets the contact type when its condition holds.
type TypeRule struct {
	ID     string    `yaml:"id"`
	Type   string    `yaml:"type"`
	When   Condition `yaml:"when"`
	Ground `yaml:",inline"`
}

// Categories is the pack's taxonomy and how a complaint is put into it:
// a category named by a source field (FromExtra), then the decisive rules
// in order, then the classifier when it is confident enough, then the
// first non-decisive rule that matched, then Default.
type Categories struct {
	List       []Definition     `yaml:"list"`
	Default    string           `yaml:"default"`
	FromExtra  []string         `yaml:"from_extra"`
	Rules      []CategoryRule   `yaml:"rules"`
	Classifier ClassifierConfig `yaml:"classifier"`
	Examples   []ExampleSet     `yaml:"examples"`
	// ExamplesFile names a training file of labelled work orders (CSV or
	// TSV with the columns 内容 and 类别, or JSON lines; see ReadLabelled),
	// relative to the pack file, whose rows join Examples when the pack is
	// loaded: the built-in packs ship theirs in configs/policies/examples.
	ExamplesFile string `yaml:"examples_file"`
	// Model is the directory of a model `tousu policy train` trained for
	// this pack, relative to the pack file; it decides in the classifier's
	// stead. A model named for the pack in the configuration
	// (policies.packs[].model) takes precedence.
	Model string `yaml:"model"`
}

// CategoryRule puts a complaint in Category when its condition holds.
// Decisive (the default) decides at once; a non-decisive rule is a hint used
// only when the classifier is not confident.
type CategoryRule struct {
	ID       string    `yaml:"id"`
	Category string    `yaml:"category"`
	When     Condition `yaml:"when"`
	Decisive *bool     `yaml:"decisive"`
	Ground   `yaml:",inline"`
}

func (r CategoryRule) decisive() bool { return r.Decisive == nil || *r.Decisive }

// ClassifierConfig tunes the multinomial naive Bayes classifier over
// character n-grams.
type ClassifierConfig struct {
	// NgramMin and NgramMax bound the n-gram lengths (default 1 and 2).
	NgramMin int `yaml:"ngram_min"`
	NgramMax int `yaml:"ngram_max"`
	// Alpha is the additive smoothing (default 0.5).
	Alpha float64 `yaml:"alpha"`
	// MinConfidence is the posterior probability below which the model
	// does not decide (default 0.5).
	MinConfidence float64 `yaml:"min_confidence"`
}

func (c ClassifierConfig) withDefaults() ClassifierConfig {
	if c.NgramMin == 0 {
		c.NgramMin = 1
	}
	if c.NgramMax == 0 {
		c.NgramMax = 2
	}
	if c.Alpha == 0 {
		c.Alpha = 0.5
	}
	if c.MinConfidence == 0 {
		c.MinConfidence = 0.5
	}
	return c
}

// ExampleSet is labelled training text for one category.
type ExampleSet struct {
	Category string   `yaml:"category"`
	Texts    []string `yaml:"texts"`
}

// ValidityRules are the ordered reasons a complaint is invalid (无效); the
// first that holds decides, and a complaint none holds for is valid.
type ValidityRules struct {
	Rules []ValidityRule `yaml:"rules"`
}

// ValidityRule makes a complaint invalid for Reason when its condition
// holds. With Scope "claim" it bars only a claim of the complaint (a fine
// reported too late): the complaint stays valid, the reason is listed
// under Validity.Barred and the following rules are still checked.
type ValidityRule struct {
	ID     string    `yaml:"id"`
	Reason string    `yaml:"reason"`
	Scope  string    `yaml:"scope"` // "complaint" (the default) or "claim"
	When   Condition `yaml:"when"`
	Ground `yaml:",inline"`
}

// ScopeClaim is the ValidityRule scope that bars a claim, not the complaint.
const ScopeClaim = "claim"

// Grades is the pack's grade scale, lowest first; every rule that holds
// proposes a grade and the highest proposed wins, Default otherwise.
type Grades struct {
	Scale   []GradeDef  `yaml:"scale"`
	Default string      `yaml:"default"`
	Rules   []GradeRule `yaml:"rules"`
}

// GradeDef is one grade. Alert lists who is alerted at once when a case
// gets this grade (at escalation level AlertLevel, default 1).
type GradeDef struct {
	Name       string   `yaml:"name"`
	Definition string   `yaml:"definition"`
	Alert      []string `yaml:"alert"`
	AlertLevel int      `yaml:"alert_level"`
	Ground     `yaml:",inline"`
}

// GradeRule proposes Grade when its condition holds.
type GradeRule struct {
	ID     string    `yaml:"id"`
	Grade  string    `yaml:"grade"`
	When   Condition `yaml:"when"`
	Ground `yaml:",inline"`
}

// Unit is the unit a clock counts in.
type Unit string

// The units a clock can count in. Working units follow the official
// calendar; working hours and minutes count the pack's business hours.
const (
	UnitMinutes        Unit = "minutes"
	UnitHours          Unit = "hours"
	UnitCalendarDays   Unit = "calendar_days"
	UnitWorkingDays    Unit = "working_days"
	UnitWorkingHours   Unit = "working_hours"
	UnitWorkingMinutes Unit = "working_minutes"
)

var units = []Unit{UnitMinutes, UnitHours, UnitCalendarDays, UnitWorkingDays, UnitWorkingHours, UnitWorkingMinutes}

func (u Unit) working() bool {
	return u == UnitWorkingDays || u == UnitWorkingHours || u == UnitWorkingMinutes
}

// The built-in case events. A pack declares its other events (a
// verification, an approval…) under events.
const (
	// EventReceived happens when the complaint is received.
	EventReceived = "received"
	// EventTaken happens each time an agent takes the case.
	EventTaken = "taken"
	// EventResolved happens when the case is resolved (已办结).
	EventResolved = "resolved"
	// EventClosed happens when the case is closed; it stops every clock.
	EventClosed = "closed"
	// EventReplied happens when an agent's reply to the customer is
	// written (the reply action). A clock that waits for the reply
	// (答复用户) names it as its stop; such a clock stops too when the case
	// is resolved, since resolving answers the customer with the result.
	EventReplied = "replied"
)

// builtinEvents are the events every pack knows.
var builtinEvents = []string{EventReceived, EventTaken, EventResolved, EventClosed, EventReplied}

// Clock is a named deadline: Amount Units after its Start event, for the
// cases its condition holds for, escalated along the named ladder. Day
// units end at midnight after the last day and do not count the start
// day, so 0 calendar_days is "the same day" (当天).
type Clock struct {
	Name   string `yaml:"name"`
	Title  string `yaml:"title"`
	Amount int    `yaml:"amount"`
	Unit   Unit   `yaml:"unit"`
	Start  string `yaml:"start"` // default "received"
	// Stop is the event that stops the clock: by default "resolved" for
	// a clock that starts earlier, "closed" for one that starts when the
	// case is resolved (回访). Closing a case stops every clock.
	Stop   string    `yaml:"stop"`
	When   Condition `yaml:"when"`
	Ladder string    `yaml:"escalation"`
	// Extendable lets an extend action (延期) move the clock's due time,
	// by at most Max in all; nil: the clock cannot be extended.
	Extendable *Extendable `yaml:"extendable"`
	// Pausable lets a pause action stop the clock while the case waits
	// for the customer (等待客户补充材料), with its grounds; nil: the clock
	// cannot be paused.
	Pausable *Ground `yaml:"pausable"`
	Ground   `yaml:",inline"`
}

// Extendable says how far a clock may be extended and who decides it.
type Extendable struct {
	// Max bounds the extensions of one case's clock, added up.
	Max Length `yaml:"max"`
	// Needs is the role an extension needs: "supervisor" (a supervisor or
	// an admin) or "" (any agent who may act on the case).
	Needs  string `yaml:"needs"`
	Ground `yaml:",inline"`
}

// NeedsSupervisor is the Extendable.Needs of an extension only a
// supervisor or an admin may grant.
const NeedsSupervisor = "supervisor"

// Length is an amount of a clock unit, e.g. 15 working_days.
type Length struct {
	Amount int  `yaml:"amount"`
	Unit   Unit `yaml:"unit"`
}

func (c Clock) start() string {
	if c.Start == "" {
		return EventReceived
	}
	return c.Start
}

func (c Clock) stop() string {
	switch {
	case c.Stop != "":
		return c.Stop
	case c.start() == EventResolved:
		return EventClosed
	}
	return EventResolved
}

// Routing picks the department, queue and owner: the first rule that holds,
// its empty fields filled from Default.
type Routing struct {
	Default Route       `yaml:"default"`
	Rules   []RouteRule `yaml:"rules"`
}

// RouteRule sends a case to Route when its condition holds.
type RouteRule struct {
	ID     string    `yaml:"id"`
	When   Condition `yaml:"when"`
	Route  Route     `yaml:"route"`
	Ground `yaml:",inline"`
}

// EscalationPlan holds the escalation ladders clocks refer to.
type EscalationPlan struct {
	Ladders []Ladder `yaml:"ladders"`
}

// Ladder is an escalation ladder: steps relative to a clock (a percentage
// of its length, its breach, or a time after the breach), continued by
// the ladder named Then.
type Ladder struct {
	Name  string `yaml:"name"`
	Steps []Step `yaml:"steps"`
	Then  string `yaml:"then"`
}

// Step is one rung: At is "50%", "breach" or "breach+2h" / "breach+1d".
type Step struct {
	At     string   `yaml:"at"`
	Level  int      `yaml:"level"`
	Notify []string `yaml:"notify"`
	Ground `yaml:",inline"`
}

// Condition is what a rule requires. Every field given must hold; within a
// list, any entry may. Keywords match the complaint's subject and text
// lower-cased with spaces removed; regexps match the lower-cased text.
// Fields naming decisions (contact types, categories, grades, valid) may
// only be used by the stages after the one that decides them: contact type,
// then category, validity, grade, then clocks and routing.
type Condition struct {
	Keywords    []string `yaml:"keywords"`     // any of them
	AllKeywords []string `yaml:"all_keywords"` // all of them
	NotKeywords []string `yaml:"not_keywords"` // none of them
	Regexps     []string `yaml:"regexps"`      // any of them
	// Unless discounts a keyword or regexp hit that has one of the
	// contexts around it: a negation, a threat, another subject ("不处理
	// 就去街道办", "邻居已经起诉我们"). The condition holds only through
	// a hit no context discounts.
	Unless   []Context `yaml:"unless"`
	Channels []string  `yaml:"channels"`
	Sources  []string  `yaml:"sources"`
	// Extra requires Complaint.Extra fields to have one of the values; the
	// value "*" means any non-empty value.
	Extra map[string][]string `yaml:"extra"`
	// NotExtra requires the fields not to have any of the values ("*":
	// the field must be empty or absent).
	NotExtra map[string][]string `yaml:"not_extra"`
	// NoContact is true for a complainant with neither phone nor email.
	NoContact *bool `yaml:"no_contact"`
	// ShorterThan holds for text with fewer letters and digits than this.
	ShorterThan int `yaml:"shorter_than"`
	// OccurredOlderThan holds when the complaint's occurred_at lies more
	// than this before its receipt; it never holds when occurred_at is unknown.
	OccurredOlderThan *Period `yaml:"occurred_older_than"`
	// EffectiveFrom and EffectiveUntil (dates, 2006-01-02) hold the rule
	// to the text in force: it holds for complaints received on or after
	// EffectiveFrom and before EffectiveUntil (the day a replacing text
	// takes effect), counted in the pack's time zone.
	EffectiveFrom  string   `yaml:"effective_from"`
	EffectiveUntil string   `yaml:"effective_until"`
	ContactTypes   []string `yaml:"contact_types"`
	Categories     []string `yaml:"categories"`
	Grades         []string `yaml:"grades"`
	Valid          *bool    `yaml:"valid"`
}

// Context is text around a keyword or regexp hit that discounts it: one
// of Regexps matches the Before runes that end where the hit starts, or
// the After runes that start where it ends (anchor with $ and ^ to mean
// "right before" and "right after"). Keywords' context is the text
// without white space, regexps' the lower-cased text.
type Context struct {
	Before  int      `yaml:"before"`
	After   int      `yaml:"after"`
	Regexps []string `yaml:"regexps"`
}

// Period is a calendar period: days, months or years, or calendar_months
// (the months themselves: 0 calendar_months is "not in the same month").
// The date compared is occurred_at; with Text, when occurred_at is
// unknown, the latest date the text names (see OccurredInText).
type Period struct {
	Amount int    `yaml:"amount"`
	Unit   string `yaml:"unit"`
	// Text reads the date from the text when occurred_at is unknown. Use
	// it where the dates a complaint names are those of the matter (a
	// charge, a fine), not where they may be background (“2015年开的户”).
	Text bool `yaml:"text"`
	// Of counts from the date of another event than the matter: the
	// latest date the text names right before one of these words
	// (“2023年6月竣工验收”, also a year alone: “2019年竣工验收”), whether
	// or not occurred_at is known; without one the condition does not
	// hold. A warranty counts from 竣工验收合格, not from the defect.
	Of []string `yaml:"of"`
}

// BuiltinPrefix names a pack shipped inside the binary: "builtin:telecom"
// is configs/policies/telecom.yaml as embedded in package configs.
const BuiltinPrefix = "builtin:"

// LoadPack reads, strictly decodes and validates a pack file, or a
// built-in pack named "builtin:<name>".
// A pack's examples_file is read beside it: from the binary for a
// built-in pack, else relative to the pack file.
func LoadPack(path string) (*Pack, error) {
	var data []byte
	var err error
	readBeside := func(name string) ([]byte, error) { return os.ReadFile(filepath.Join(filepath.Dir(path), name)) }
	if builtin, ok := strings.CutPrefix(path, BuiltinPrefix); ok {
		data, err = fs.ReadFile(configs.Policies, "policies/"+builtin+".yaml")
		readBeside = func(name string) ([]byte, error) { return fs.ReadFile(configs.Policies, "policies/"+name) }
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, err
	}
	p, err := parsePack(data, readBeside)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// ParsePack strictly decodes and validates a pack. A pack naming an
// examples_file needs LoadPack, which knows where to read it.
func ParsePack(data []byte) (*Pack, error) {
	return parsePack(data, func(name string) ([]byte, error) {
		return nil, fmt.Errorf("examples_file %q: only a pack loaded from a file can name one", name)
	})
}

// parsePack decodes, adds the rows of the examples file (read with
// readFile) to the examples, and validates.
func parsePack(data []byte, readFile func(name string) ([]byte, error)) (*Pack, error) {
	var p Pack
	if err := configs.DecodeStrict(data, &p); err != nil {
		return nil, err
	}
	if name := p.Categories.ExamplesFile; name != "" {
		if err := p.Categories.addExamplesFile(name, readFile); err != nil {
			return nil, fmt.Errorf("categories.examples_file: %w", err)
		}
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

// addExamplesFile reads the training file name and adds its rows to the
// example sets of their categories, after the pack's own. A label that
// is not a category of the pack is an error naming it.
func (c *Categories) addExamplesFile(name string, readFile func(string) ([]byte, error)) error {
	if !filepath.IsLocal(name) {
		return fmt.Errorf("%q: must be a relative path inside the pack's folder", name)
	}
	data, err := readFile(name)
	if err != nil {
		return err
	}
	rows, _, err := ReadLabelled(bytes.NewReader(data), name, ReadOptions{})
	if err != nil {
		return err
	}
	known := map[string]bool{}
	for _, d := range c.List {
		known[d.Name] = true
	}
	set := map[string]int{} // category -> index in Examples
	for i, e := range c.Examples {
		set[e.Category] = i
	}
	for _, r := range rows {
		if !known[r.Label] {
			return fmt.Errorf("%s row %d: %q is not a category of the pack", name, r.Row, r.Label)
		}
		i, ok := set[r.Label]
		if !ok {
			i = len(c.Examples)
			set[r.Label] = i
			c.Examples = append(c.Examples, ExampleSet{Category: r.Label})
		}
		c.Examples[i].Texts = append(c.Examples[i].Texts, r.Text)
	}
	return nil
}

// stage orders the decisions a condition may refer to.
type stage int

const (
	stageType stage = iota
	stageCategory
	stageValidity
	stageGrade
	stageAfter // clocks, routing
)

// Validate checks the pack: names defined once, every reference (category,
// grade, contact type, source, ladder, event) known, every rule and number
// grounded, clocks with a positive amount and a unit, conditions that
// compile and refer only to decisions already made, escalation ladders
// without cycles, and a calendar that covers the years the pack requires.
func (p *Pack) Validate() error {
	v := &validator{p: p}
	v.run()
	return errors.Join(v.errs...)
}

type validator struct {
	p          *Pack
	errs       []error
	sources    map[string]bool
	types      map[string]bool
	categories map[string]bool
	grades     map[string]bool
	events     map[string]bool
}

func (v *validator) errorf(path, format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
}

// names collects a list of names, reporting empty and duplicate ones.
func (v *validator) names(path string, names []string) map[string]bool {
	set := map[string]bool{}
	for i, n := range names {
		switch {
		case strings.TrimSpace(n) == "":
			v.errorf(fmt.Sprintf("%s[%d]", path, i), "name must not be empty")
		case set[n]:
			v.errorf(fmt.Sprintf("%s[%d]", path, i), "%q defined twice", n)
		}
		set[n] = true
	}
	return set
}

func (v *validator) run() {
	p := v.p
	if strings.TrimSpace(p.Name) == "" {
		v.errorf("name", "must not be empty")
	}
	if _, err := calendar.New(p.Calendar); err != nil {
		v.errorf("calendar", "%v", err)
	}
	var ids []string
	for _, s := range p.Sources {
		ids = append(ids, s.ID)
	}
	v.sources = v.names("sources", ids)
	for i, s := range p.Sources {
		if strings.TrimSpace(s.Title) == "" {
			v.errorf(fmt.Sprintf("sources[%d].title", i), "must not be empty")
		}
	}
	v.events = v.names("events", p.Events)
	for _, b := range builtinEvents {
		if v.events[b] {
			v.errorf("events", "%q is built in", b)
		}
		v.events[b] = true
	}

	v.contactTypes()
	v.categoriesSection()
	for i, r := range p.Validity.Rules {
		path := fmt.Sprintf("validity.rules[%d]", i)
		v.ruleID(path, r.ID)
		if strings.TrimSpace(r.Reason) == "" {
			v.errorf(path+".reason", "must not be empty")
		}
		if r.Scope != "" && r.Scope != "complaint" && r.Scope != ScopeClaim {
			v.errorf(path+".scope", "want complaint or claim, got %q", r.Scope)
		}
		v.condition(path+".when", r.When, stageValidity)
		v.ground(path, r.Ground)
	}
	v.gradesSection()
	ladders := v.ladders()
	v.clocks(ladders)
	v.customer()
	v.routing()
	v.uniqueRuleIDs()
}

func (v *validator) contactTypes() {
	ct := v.p.ContactTypes
	var names []string
	for _, d := range ct.Types {
		names = append(names, d.Name)
	}
	v.types = v.names("contact_types.types", names)
	if len(v.types) == 0 {
		v.errorf("contact_types.types", "must define at least one contact type")
	}
	for i, d := range ct.Types {
		v.ground(fmt.Sprintf("contact_types.types[%d]", i), d.Ground)
	}
	if !v.types[ct.Default] {
		v.errorf("contact_types.default", "%q is not a defined contact type", ct.Default)
	}
	for i, r := range ct.Rules {
		path := fmt.Sprintf("contact_types.rules[%d]", i)
		v.ruleID(path, r.ID)
		if !v.types[r.Type] {
			v.errorf(path+".type", "unknown contact type %q", r.Type)
		}
		v.condition(path+".when", r.When, stageType)
		v.ground(path, r.Ground)
	}
}

func (v *validator) categoriesSection() {
	c := v.p.Categories
	var names []string
	for _, d := range c.List {
		names = append(names, d.Name)
	}
	v.categories = v.names("categories.list", names)
	if len(v.categories) == 0 {
		v.errorf("categories.list", "must define at least one category")
	}
	if !v.categories[c.Default] {
		v.errorf("categories.default", "%q is not a defined category", c.Default)
	}
	for i, r := range c.Rules {
		path := fmt.Sprintf("categories.rules[%d]", i)
		v.ruleID(path, r.ID)
		if !v.categories[r.Category] {
			v.errorf(path+".category", "unknown category %q", r.Category)
		}
		v.condition(path+".when", r.When, stageCategory)
		v.ground(path, r.Ground)
	}
	cfg := c.Classifier.withDefaults()
	if cfg.NgramMin < 1 || cfg.NgramMax < cfg.NgramMin || cfg.NgramMax > 5 {
		v.errorf("categories.classifier", "n-gram lengths must satisfy 1 <= ngram_min <= ngram_max <= 5")
	}
	if cfg.Alpha <= 0 || cfg.MinConfidence < 0 || cfg.MinConfidence > 1 {
		v.errorf("categories.classifier", "alpha must be positive and min_confidence within [0, 1]")
	}
	seen := map[string]bool{}
	for i, e := range c.Examples {
		path := fmt.Sprintf("categories.examples[%d]", i)
		if !v.categories[e.Category] {
			v.errorf(path+".category", "unknown category %q", e.Category)
		}
		if seen[e.Category] {
			v.errorf(path+".category", "%q has two example sets", e.Category)
		}
		seen[e.Category] = true
		for j, t := range e.Texts {
			if len(features(t, cfg.NgramMin, cfg.NgramMax)) == 0 {
				v.errorf(fmt.Sprintf("%s.texts[%d]", path, j), "has no letters or digits")
			}
		}
	}
	if len(c.Examples) == 1 {
		v.errorf("categories.examples", "the classifier needs examples of at least two categories")
	}
}

func (v *validator) gradesSection() {
	g := v.p.Grades
	var names []string
	for _, d := range g.Scale {
		names = append(names, d.Name)
	}
	v.grades = v.names("grades.scale", names)
	if len(v.grades) == 0 {
		v.errorf("grades.scale", "must define at least one grade")
	}
	for i, d := range g.Scale {
		path := fmt.Sprintf("grades.scale[%d]", i)
		v.ground(path, d.Ground)
		if d.AlertLevel < 0 || (d.AlertLevel > 0 && len(d.Alert) == 0) {
			v.errorf(path+".alert_level", "needs a positive level and someone to alert")
		}
		v.roles(path+".alert", d.Alert)
	}
	if !v.grades[g.Default] {
		v.errorf("grades.default", "%q is not a grade of the scale", g.Default)
	}
	for i, r := range g.Rules {
		path := fmt.Sprintf("grades.rules[%d]", i)
		v.ruleID(path, r.ID)
		if !v.grades[r.Grade] {
			v.errorf(path+".grade", "unknown grade %q", r.Grade)
		}
		v.condition(path+".when", r.When, stageGrade)
		v.ground(path, r.Ground)
	}
}

func (v *validator) roles(path string, roles []string) {
	for i, r := range roles {
		if strings.TrimSpace(r) == "" {
			v.errorf(fmt.Sprintf("%s[%d]", path, i), "must not be empty")
		}
	}
}

// ladders checks the escalation ladders and returns their names.
func (v *validator) ladders() map[string]bool {
	var names []string
	for _, l := range v.p.Escalation.Ladders {
		names = append(names, l.Name)
	}
	set := v.names("escalation.ladders", names)
	then := map[string]string{}
	for i, l := range v.p.Escalation.Ladders {
		path := fmt.Sprintf("escalation.ladders[%d]", i)
		if len(l.Steps) == 0 {
			v.errorf(path+".steps", "must not be empty")
		}
		for j, s := range l.Steps {
			sp := fmt.Sprintf("%s.steps[%d]", path, j)
			if _, err := parseStepAt(s.At); err != nil {
				v.errorf(sp+".at", "%v", err)
			}
			if s.Level < 1 {
				v.errorf(sp+".level", "must be at least 1")
			}
			if len(s.Notify) == 0 {
				v.errorf(sp+".notify", "must name who is alerted")
			}
			v.roles(sp+".notify", s.Notify)
			v.ground(sp, s.Ground)
		}
		if l.Then != "" {
			if !set[l.Then] {
				v.errorf(path+".then", "unknown ladder %q", l.Then)
			}
			then[l.Name] = l.Then
		}
	}
	// Every ladder has at most one successor: follow each chain.
	for _, l := range v.p.Escalation.Ladders {
		seen := []string{l.Name}
		for next, ok := then[l.Name]; ok; next, ok = then[next] {
			if slices.Contains(seen, next) {
				v.errorf("escalation.ladders", "cycle: %s -> %s", strings.Join(seen, " -> "), next)
				break
			}
			seen = append(seen, next)
		}
	}
	return set
}

func (v *validator) clocks(ladders map[string]bool) {
	var names []string
	for _, c := range v.p.Clocks {
		names = append(names, c.Name)
	}
	v.names("clocks", names)
	for i, c := range v.p.Clocks {
		path := fmt.Sprintf("clocks[%d]", i)
		if c.Unit == "" {
			v.errorf(path+".unit", "clock %q has no unit (one of %v)", c.Name, units)
		} else if !slices.Contains(units, c.Unit) {
			v.errorf(path+".unit", "unknown unit %q (one of %v)", c.Unit, units)
		}
		switch {
		case c.Amount < 0, c.Amount == 0 && c.Unit != UnitCalendarDays && c.Unit != UnitWorkingDays:
			v.errorf(path+".amount", "must be positive (0 only for day units: the same day), got %d", c.Amount)
		}
		if !v.events[c.start()] {
			v.errorf(path+".start", "unknown event %q (declare it under events)", c.Start)
		}
		if !v.events[c.stop()] {
			v.errorf(path+".stop", "unknown event %q (declare it under events)", c.Stop)
		} else if c.stop() == c.start() {
			v.errorf(path+".stop", "the clock starts and stops with the same event %q", c.Stop)
		}
		if c.Ladder != "" && !ladders[c.Ladder] {
			v.errorf(path+".escalation", "unknown ladder %q", c.Ladder)
		}
		v.condition(path+".when", c.When, stageAfter)
		v.ground(path, c.Ground)
		if x := c.Extendable; x != nil {
			if !slices.Contains(units, x.Max.Unit) {
				v.errorf(path+".extendable.max.unit", "unknown unit %q (one of %v)", x.Max.Unit, units)
			}
			if x.Max.Amount <= 0 {
				v.errorf(path+".extendable.max.amount", "must be positive, got %d", x.Max.Amount)
			}
			if x.Needs != "" && x.Needs != NeedsSupervisor {
				v.errorf(path+".extendable.needs", "unknown role %q (%q or empty: any agent of the case)", x.Needs, NeedsSupervisor)
			}
			v.ground(path+".extendable", x.Ground)
		}
		if c.Pausable != nil {
			v.ground(path+".pausable", *c.Pausable)
		}
	}
}

func (v *validator) routing() {
	r := v.p.Routing
	if strings.TrimSpace(r.Default.Department) == "" || strings.TrimSpace(r.Default.Queue) == "" {
		v.errorf("routing.default", "must name a department and a queue")
	}
	for i, rule := range r.Rules {
		path := fmt.Sprintf("routing.rules[%d]", i)
		v.ruleID(path, rule.ID)
		if rule.Route == (Route{}) {
			v.errorf(path+".route", "must set a department, queue or owner")
		}
		v.condition(path+".when", rule.When, stageAfter)
		v.ground(path, rule.Ground)
	}
}

func (v *validator) ruleID(path, id string) {
	if strings.TrimSpace(id) == "" {
		v.errorf(path+".id", "must not be empty")
	}
}

// uniqueRuleIDs checks that rule ids are unique across the pack, so an
// explanation's rule id names one rule.
func (v *validator) uniqueRuleIDs() {
	seen := map[string]string{}
	add := func(path, id string) {
		if id == "" {
			return
		}
		if prev, ok := seen[id]; ok {
			v.errorf(path+".id", "%q already used by %s", id, prev)
			return
		}
		seen[id] = path
	}
	p := v.p
	for i, r := range p.ContactTypes.Rules {
		add(fmt.Sprintf("contact_types.rules[%d]", i), r.ID)
	}
	for i, r := range p.Categories.Rules {
		add(fmt.Sprintf("categories.rules[%d]", i), r.ID)
	}
	for i, r := range p.Validity.Rules {
		add(fmt.Sprintf("validity.rules[%d]", i), r.ID)
	}
	for i, r := range p.Grades.Rules {
		add(fmt.Sprintf("grades.rules[%d]", i), r.ID)
	}
	for i, r := range p.Routing.Rules {
		add(fmt.Sprintf("routing.rules[%d]", i), r.ID)
	}
}

// customer checks that the customer clock is one of the pack's and that
// an appeal has a text and cites a clause.
func (v *validator) customer() {
	cr := v.p.Customer
	if cr.Clock != "" && !slices.ContainsFunc(v.p.Clocks, func(c Clock) bool { return c.Name == cr.Clock }) {
		v.errorf("customer.clock", "unknown clock %q (one of the pack's clocks)", cr.Clock)
	}
	if a := cr.Appeal; a != nil {
		if strings.TrimSpace(a.Text) == "" {
			v.errorf("customer.appeal.text", "must not be empty")
		}
		if a.Basis == nil {
			v.errorf("customer.appeal.basis", "an appeal cites the clause that gives it")
		}
		v.ground("customer.appeal", a.Ground)
	}
}

func (v *validator) ground(path string, g Ground) {
	if g.Basis == nil && !g.Default {
		v.errorf(path, "needs a basis (source and clause) or default: true")
		return
	}
	if g.Basis != nil {
		if !v.sources[g.Basis.Source] {
			v.errorf(path+".basis.source", "unknown source %q", g.Basis.Source)
		}
		if strings.TrimSpace(g.Basis.Clause) == "" {
			v.errorf(path+".basis.clause", "must not be empty")
		}
	}
}

func (v *validator) condition(path string, c Condition, at stage) {
	if _, err := compileCondition(c); err != nil {
		v.errorf(path, "%v", err)
	}
	for _, ch := range c.Channels {
		if !slices.Contains(knownChannels, ingest.Channel(ch)) {
			v.errorf(path+".channels", "unknown channel %q (one of %v)", ch, knownChannels)
		}
	}
	refs := func(field, noun string, names []string, known map[string]bool, decided stage) {
		if len(names) == 0 {
			return
		}
		if at <= decided {
			v.errorf(path+"."+field, "is not decided yet at this stage")
			return
		}
		for _, n := range names {
			if !known[n] {
				v.errorf(path+"."+field, "unknown %s %q", noun, n)
			}
		}
	}
	refs("contact_types", "contact type", c.ContactTypes, v.types, stageType)
	refs("categories", "category", c.Categories, v.categories, stageCategory)
	refs("grades", "grade", c.Grades, v.grades, stageGrade)
	if c.Valid != nil && at <= stageValidity {
		v.errorf(path+".valid", "is not decided yet at this stage")
	}
}

var knownChannels = []ingest.Channel{ingest.ChannelWebForm, ingest.ChannelAPI, ingest.ChannelWebhook, ingest.ChannelEmail, ingest.ChannelHotline}

// stepAt is a parsed Step.At: a fraction of the clock, or an offset after
// its breach.
type stepAt struct {
	fraction float64 // in (0, 1]; 0 for breach offsets
	after    time.Duration
}

func parseStepAt(s string) (stepAt, error) {
	s = strings.TrimSpace(s)
	switch {
	case strings.HasSuffix(s, "%"):
		n, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
		if err != nil || n <= 0 || n > 100 {
			return stepAt{}, fmt.Errorf("%q: want a percentage in (0, 100]", s)
		}
		return stepAt{fraction: n / 100}, nil
	case s == "breach":
		return stepAt{fraction: 1}, nil
	case strings.HasPrefix(s, "breach+"):
		d, err := parseOffset(strings.TrimPrefix(s, "breach+"))
		if err != nil || d <= 0 {
			return stepAt{}, fmt.Errorf("%q: want breach+<duration> such as breach+2h or breach+1d", s)
		}
		return stepAt{after: d}, nil
	}
	return stepAt{}, fmt.Errorf("%q: want 50%%, breach or breach+2h", s)
}

// parseOffset parses a Go duration or a number of days such as "1d".
func parseOffset(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil {
			return 0, err
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

// condition matching needs compiled regexps.
type compiledCondition struct {
	Condition
	keywords, all, not []string
	// keywordRunes, allRunes and notRunes are the rune bits of keywords,
	// all and not, by index: a keyword the text's runeSet rules out is
	// not looked for.
	keywordRunes, allRunes, notRunes []runeBits
	regexps                          []pattern
	unless                           []compiledContext
}

type compiledContext struct {
	Context
	res []*regexp.Regexp
}

func compileCondition(c Condition) (*compiledCondition, error) {
	cc := &compiledCondition{Condition: c}
	var errs []error
	prep := func(field string, in []string) []string {
		out := make([]string, 0, len(in))
		for _, k := range in {
			k = compact(strings.ToLower(k))
			if k == "" {
				errs = append(errs, fmt.Errorf("%s: empty keyword", field))
				continue
			}
			out = append(out, k)
		}
		return out
	}
	cc.keywords = prep("keywords", c.Keywords)
	cc.all = prep("all_keywords", c.AllKeywords)
	cc.not = prep("not_keywords", c.NotKeywords)
	cc.keywordRunes, cc.allRunes, cc.notRunes = runeBitsOfAll(cc.keywords), runeBitsOfAll(cc.all), runeBitsOfAll(cc.not)
	for _, s := range c.Regexps {
		re, err := regexp.Compile(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("regexps: %w", err))
			continue
		}
		cc.regexps = append(cc.regexps, newPattern(re))
	}
	for i, u := range c.Unless {
		cu := compiledContext{Context: u}
		if u.Before < 0 || u.After < 0 || u.Before+u.After == 0 || len(u.Regexps) == 0 {
			errs = append(errs, fmt.Errorf("unless[%d]: want before or after (runes) and regexps", i))
		}
		for _, s := range u.Regexps {
			re, err := regexp.Compile(s)
			if err != nil {
				errs = append(errs, fmt.Errorf("unless[%d].regexps: %w", i, err))
				continue
			}
			cu.res = append(cu.res, re)
		}
		cc.unless = append(cc.unless, cu)
	}
	if len(c.Unless) > 0 && len(c.Keywords)+len(c.Regexps) == 0 {
		errs = append(errs, errors.New("unless: needs keywords or regexps to discount"))
	}
	for field, d := range map[string]string{"effective_from": c.EffectiveFrom, "effective_until": c.EffectiveUntil} {
		if _, err := time.Parse(time.DateOnly, d); d != "" && err != nil {
			errs = append(errs, fmt.Errorf("%s: want a date such as 2016-07-30, got %q", field, d))
		}
	}
	if c.EffectiveFrom != "" && c.EffectiveUntil != "" && c.EffectiveUntil <= c.EffectiveFrom {
		errs = append(errs, fmt.Errorf("effective_until: %s is not after effective_from %s", c.EffectiveUntil, c.EffectiveFrom))
	}
	if c.ShorterThan < 0 {
		errs = append(errs, errors.New("shorter_than: must not be negative"))
	}
	if p := c.OccurredOlderThan; p != nil {
		calendarMonths := p.Unit == "calendar_months" && p.Amount >= 0
		if !calendarMonths && (p.Amount <= 0 || !slices.Contains([]string{"days", "months", "years"}, p.Unit)) {
			errs = append(errs, fmt.Errorf("occurred_older_than: want a positive amount of days, months or years, or calendar_months from 0, got %d %q", p.Amount, p.Unit))
		}
		if slices.ContainsFunc(p.Of, func(w string) bool { return strings.TrimSpace(w) == "" }) {
			errs = append(errs, errors.New("occurred_older_than.of: empty word"))
		}
		if len(p.Of) > 0 && p.Text {
			errs = append(errs, errors.New("occurred_older_than: of and text exclude each other (of reads the event's date from the text)"))
		}
	}
	for k, vals := range c.Extra {
		if strings.TrimSpace(k) == "" || len(vals) == 0 {
			errs = append(errs, fmt.Errorf("extra: field %q needs values", k))
		}
	}
	for k, vals := range c.NotExtra {
		if strings.TrimSpace(k) == "" || len(vals) == 0 {
			errs = append(errs, fmt.Errorf("not_extra: field %q needs values", k))
		}
	}
	return cc, errors.Join(errs...)
}
