package router

import (
	"cmp"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/normalize"
	"github.com/tousu/tousu/router/calendar"
)

// Engine is the Policy a pack describes. It is built once from a validated
// pack (NewEngine or LoadEngine), is immutable afterwards and safe for
// concurrent use; Open does no I/O and gives the same case for the same
// complaint and instant.
type Engine struct {
	pack       *Pack
	id         string
	cal        *calendar.Calendar
	titles     map[string]string // source id -> title
	typeRules  []rule[TypeRule]
	catRules   []rule[CategoryRule]
	validity   []rule[ValidityRule]
	gradeRules []rule[GradeRule]
	clocks     []rule[Clock]
	routes     []rule[RouteRule]
	classifier *Classifier
	// model is the trained model the pack or configuration names; it
	// decides the category in the classifier's stead. Nil without one.
	model *Model
	// recalls are what the engine learnt from agents' grade and validity
	// corrections, by field; nil without any.
	recalls   map[string]*recall
	catNames  map[string]bool
	gradeRank map[string]int
	grades    map[string]GradeDef
	ladders   map[string]Ladder
	events    map[string]bool
	// departments and queues are those the pack's routing names: where a
	// transfer may send a case.
	departments, queues map[string]bool
	// checksOccurred and checksContact say whether a validity rule needs
	// occurred_at or the customer, to explain when they are unknown.
	checksOccurred, checksContact bool
	// readsTextDates says whether a validity time limit reads dates in
	// the text.
	readsTextDates bool
}

// rule is a pack rule with its compiled condition.
type rule[T any] struct {
	def  T
	cond *compiledCondition
}

func compileRules[T any](defs []T, when func(T) Condition) ([]rule[T], error) {
	out := make([]rule[T], 0, len(defs))
	for _, d := range defs {
		cc, err := compileCondition(when(d))
		if err != nil {
			return nil, err
		}
		out = append(out, rule[T]{def: d, cond: cc})
	}
	return out, nil
}

// LoadEngine loads the pack file at path and builds its engine.
func LoadEngine(path string) (*Engine, error) {
	p, err := LoadPack(path)
	if err != nil {
		return nil, err
	}
	e, err := NewEngine(p)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if p.Categories.Model == "" {
		return e, nil
	}
	dir := p.Categories.Model
	if !filepath.IsAbs(dir) && !strings.HasPrefix(path, BuiltinPrefix) {
		dir = filepath.Join(filepath.Dir(path), dir)
	}
	return e.LoadModel(dir)
}

// LoadModel returns a new engine that decides categories with the model
// in dir (see WithModel).
func (e *Engine) LoadModel(dir string) (*Engine, error) {
	m, err := LoadModel(dir)
	if err != nil {
		return nil, fmt.Errorf("pack %s: %w", e.id, err)
	}
	return e.WithModel(m)
}

// WithModel returns a new engine that decides categories with the trained
// model m in the classifier's stead; e is not changed. It fails, naming
// both, when m was trained for another pack, pack version or category set.
func (e *Engine) WithModel(m *Model) (*Engine, error) {
	if err := m.CheckFor(e.pack); err != nil {
		return nil, fmt.Errorf("pack %s: %w", e.id, err)
	}
	cp := *e // every field of an Engine is read-only once built
	cp.model = m
	return &cp, nil
}

// Model is the trained model the engine decides categories with, or nil.
func (e *Engine) Model() *Model { return e.model }

// NewEngine validates the pack, trains its classifier and builds the
// engine. The pack must not be modified afterwards.
func NewEngine(p *Pack) (*Engine, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	cal, err := calendar.New(p.Calendar)
	if err != nil {
		return nil, err
	}
	e := &Engine{
		pack:        p,
		id:          p.Name,
		cal:         cal,
		titles:      map[string]string{},
		catNames:    map[string]bool{},
		gradeRank:   map[string]int{},
		grades:      map[string]GradeDef{},
		ladders:     map[string]Ladder{},
		events:      map[string]bool{},
		departments: map[string]bool{},
		queues:      map[string]bool{},
	}
	for _, r := range append([]Route{p.Routing.Default}, routesOf(p.Routing.Rules)...) {
		if r.Department != "" {
			e.departments[r.Department] = true
		}
		if r.Queue != "" {
			e.queues[r.Queue] = true
		}
	}
	for _, ev := range builtinEvents {
		e.events[ev] = true
	}
	if p.Version != "" {
		e.id += "@" + p.Version
	}
	for _, s := range p.Sources {
		e.titles[s.ID] = s.Title
	}
	for _, c := range p.Categories.List {
		e.catNames[c.Name] = true
	}
	for i, g := range p.Grades.Scale {
		e.gradeRank[g.Name] = i
		e.grades[g.Name] = g
	}
	for _, l := range p.Escalation.Ladders {
		e.ladders[l.Name] = l
	}
	for _, ev := range p.Events {
		e.events[ev] = true
	}
	var errs [6]error
	e.typeRules, errs[0] = compileRules(p.ContactTypes.Rules, func(r TypeRule) Condition { return r.When })
	e.catRules, errs[1] = compileRules(p.Categories.Rules, func(r CategoryRule) Condition { return r.When })
	e.validity, errs[2] = compileRules(p.Validity.Rules, func(r ValidityRule) Condition { return r.When })
	e.gradeRules, errs[3] = compileRules(p.Grades.Rules, func(r GradeRule) Condition { return r.When })
	e.clocks, errs[4] = compileRules(p.Clocks, func(r Clock) Condition { return r.When })
	e.routes, errs[5] = compileRules(p.Routing.Rules, func(r RouteRule) Condition { return r.When })
	for _, err := range errs {
		if err != nil {
			return nil, err // Validate compiled them already; kept for safety
		}
	}
	for _, r := range p.Validity.Rules {
		e.checksOccurred = e.checksOccurred || r.When.OccurredOlderThan != nil
		e.readsTextDates = e.readsTextDates || (r.When.OccurredOlderThan != nil && r.When.OccurredOlderThan.Text)
		e.checksContact = e.checksContact || r.When.NoContact != nil
	}
	if len(p.Categories.Examples) > 0 {
		e.classifier = TrainClassifier(p.Categories.Examples, p.Categories.Classifier)
	}
	return e, nil
}

// routesOf returns the routes of rules.
func routesOf(rules []RouteRule) []Route {
	out := make([]Route, len(rules))
	for i, r := range rules {
		out[i] = r.Route
	}
	return out
}

// Name is the pack's name and version, as recorded on cases (name@version).
func (e *Engine) Name() string { return e.id }

// Pack returns the engine's pack; callers must not modify it.
func (e *Engine) Pack() *Pack { return e.pack }

// Calendar is the engine's working-day calendar.
func (e *Engine) Calendar() *calendar.Calendar { return e.cal }

// CheckCoverage fails when the calendar does not cover the year of now:
// call it at start so an outdated holiday table stops the process instead
// of producing deadlines that cannot be computed.
func (e *Engine) CheckCoverage(now time.Time) error {
	year := now.In(e.cal.Location()).Year()
	if !e.cal.Covers(year) {
		return fmt.Errorf("pack %s: the holiday calendar does not cover %d (covered years %v); add the State Council arrangement under calendar.supplement or upgrade github.com/6tail/lunar-go", e.id, year, e.cal.Years())
	}
	return nil
}

// CheckCoverageAhead fails when the calendar does not cover every day from
// now to now+ahead: clocks started now could then run into days it does
// not know and carry an Error instead of a due time. Log it as a warning
// (e.g. with ahead = 45 days) so the next year's arrangement is added in
// time; unlike CheckCoverage it need not stop the process.
func (e *Engine) CheckCoverageAhead(now time.Time, ahead time.Duration) error {
	for d := now; ; d = d.Add(24 * time.Hour) {
		if d.After(now.Add(ahead)) {
			d = now.Add(ahead)
		}
		if !e.cal.CoversDay(d) {
			return fmt.Errorf("pack %s: the holiday calendar does not cover %s (covered years %v); clocks running past it will fail", e.id, d.In(e.cal.Location()).Format(time.DateOnly), e.cal.Years())
		}
		if !d.Before(now.Add(ahead)) {
			return nil
		}
	}
}

// Verdict is everything a pack decides about one complaint.
type Verdict struct {
	Pack        string    `json:"pack"`
	ReceivedAt  time.Time `json:"received_at"`
	ContactType string    `json:"contact_type"`
	Category    string    `json:"category"`
	Decision    Decision  `json:"decision"`
	// CategoryUncertain and CategorySuggestions are the case's (see Case).
	CategoryUncertain   bool     `json:"category_uncertain,omitempty"`
	CategorySuggestions []string `json:"category_suggestions,omitempty"`
	Validity            Validity `json:"validity"`
	Grade               string   `json:"grade"`
	// Deadlines are the running clocks, Deadline the earliest due among them.
	Deadlines     []Deadline    `json:"deadlines"`
	Deadline      time.Time     `json:"deadline,omitzero"`
	PendingClocks []Deadline    `json:"pending_clocks,omitempty"`
	Route         Route         `json:"route"`
	Escalation    Escalation    `json:"escalation"`
	Explanation   []Explanation `json:"explanation"`
}

// Open implements Policy: it decides the complaint and opens its case.
func (e *Engine) Open(c normalize.Complaint, now time.Time) Case {
	v := e.decide(c, now, true)
	return Case{
		V:                   SchemaVersion,
		ID:                  c.Reference,
		Revision:            1,
		References:          []string{c.Reference},
		Complaints:          []string{c.ID},
		MessageIDs:          withMessageID(nil, c),
		WorkOrders:          withWorkOrder(nil, c),
		BusinessType:        businessType(c),
		Consent:             ingest.ConsentOf(c.Extra),
		Warnings:            ingest.Warnings(c.Extra),
		Channel:             c.Channel,
		Source:              c.Source,
		Customer:            c.Customer,
		Subject:             c.Subject,
		Description:         c.Description,
		Attachments:         c.Attachments,
		Category:            v.Category,
		Decision:            v.Decision,
		CategoryUncertain:   v.CategoryUncertain,
		CategorySuggestions: v.CategorySuggestions,
		Status:              StatusOpen,
		ReceivedAt:          v.ReceivedAt,
		UpdatedAt:           v.ReceivedAt,
		Deadlines:           v.Deadlines,
		Deadline:            v.Deadline,
		Pack:                v.Pack,
		ContactType:         v.ContactType,
		Validity:            v.Validity,
		Grade:               v.Grade,
		Route:               v.Route,
		PendingClocks:       v.PendingClocks,
		Escalation:          v.Escalation,
		Explanation:         v.Explanation,
	}
}

// Decide returns the pack's verdict on a complaint as of now.
func (e *Engine) Decide(c normalize.Complaint, now time.Time) Verdict {
	return e.decide(c, now, true)
}

func (e *Engine) decide(c normalize.Complaint, now time.Time, customerKnown bool) Verdict {
	received := c.ReceivedAt
	if received.IsZero() {
		received = now
	}
	s := newSubject(c, received, e.cal.Location(), customerKnown)
	v := Verdict{Pack: e.id, ReceivedAt: received, Deadlines: []Deadline{}}
	explain := func(x Explanation) { v.Explanation = append(v.Explanation, x) }

	// Contact type.
	s.contactType = e.pack.ContactTypes.Default
	typeBy := Explanation{Field: "contact_type", Value: s.contactType, By: "default", Reason: "未命中任何诉求类型规则，按默认诉求类型"}
	for _, r := range e.typeRules {
		if ok, why := r.cond.match(s); ok {
			s.contactType = r.def.Type
			typeBy = Explanation{Field: "contact_type", Value: r.def.Type, By: "rule", Rule: r.def.ID, Reason: why, Basis: e.basis(r.def.Ground)}
			break
		}
	}
	v.ContactType = s.contactType
	explain(typeBy)

	// Category.
	catBy, suggestions := e.categorize(s)
	v.CategoryUncertain, v.CategorySuggestions = suggestions != nil, suggestions
	s.category = catBy.Value
	v.Category = catBy.Value
	v.Decision = Decision{Category: catBy.Value, Reason: catBy.by(), Confidence: catBy.Confidence}
	explain(catBy)

	// Validity.
	s.valid = true
	v.Validity = Validity{Valid: true}
	valBy := Explanation{Field: "validity", Value: "有效", By: "default", Reason: "未命中任何无效情形规则，按有效受理"}
	var barred []Explanation
	for _, r := range e.validity {
		if ok, why := r.cond.match(s); ok {
			if r.def.Scope == ScopeClaim {
				v.Validity.Barred = append(v.Validity.Barred, r.def.Reason)
				barred = append(barred, Explanation{Field: "validity", Value: "有效；不予处理的请求：" + r.def.Reason, By: "rule", Rule: r.def.ID, Reason: why, Basis: e.basis(r.def.Ground)})
				continue
			}
			s.valid = false
			v.Validity = Validity{Valid: false, Reason: r.def.Reason, Basis: e.basis(r.def.Ground)}
			valBy = Explanation{Field: "validity", Value: "无效：" + r.def.Reason, By: "rule", Rule: r.def.ID, Reason: why, Basis: v.Validity.Basis}
			break
		}
	}
	// Without an invalidity rule, invalid when agents judged texts like
	// this one invalid.
	if x, ok := e.recalls[FieldValidity].recall(s.lower); s.valid && ok && x.Value == ValidityInvalid {
		s.valid = false
		v.Validity = recallInvalid(x)
		valBy = Explanation{Field: "validity", Value: validityValue(v.Validity), By: "model", Rule: "agent_corrections", Reason: x.explain("无效"), Confidence: round3(x.Confidence)}
	}
	explain(valBy)
	if s.valid {
		for _, x := range barred {
			explain(x)
		}
	}
	if s.valid && e.checksOccurred && c.OccurredAt.IsZero() && (!e.readsTextDates || s.textDate.To.IsZero()) {
		explain(Explanation{Field: "validity", Value: "有效", By: "note", Reason: "未提供事发时间，未核查投诉时效"})
	}
	if s.valid && e.checksContact && !customerKnown {
		explain(Explanation{Field: "validity", Value: "有效", By: "note", Reason: "未提供客户信息，未核查联系方式"})
	}

	// Grade: the highest grade any rule proposes.
	s.grade = e.pack.Grades.Default
	var gradeBy []Explanation
	for _, r := range e.gradeRules {
		if ok, why := r.cond.match(s); ok {
			gradeBy = append(gradeBy, Explanation{Field: "grade", Value: r.def.Grade, By: "rule", Rule: r.def.ID, Reason: why, Basis: e.basis(r.def.Ground)})
			if e.gradeRank[r.def.Grade] > e.gradeRank[s.grade] {
				s.grade = r.def.Grade
			}
		}
	}
	// Without a rule, the grade agents gave texts like this one.
	if x, ok := e.recalls[FieldGrade].recall(s.lower); len(gradeBy) == 0 && ok {
		s.grade = x.Value
		gradeBy = append(gradeBy, Explanation{Field: "grade", Value: x.Value, By: "model", Rule: "agent_corrections", Reason: x.explain(x.Value), Confidence: round3(x.Confidence)})
	}
	v.Grade = s.grade
	if len(gradeBy) == 0 {
		explain(Explanation{Field: "grade", Value: s.grade, By: "default", Reason: "未命中任何等级规则，按默认等级"})
	}
	for _, x := range gradeBy {
		explain(x)
	}

	// Clocks.
	for _, r := range e.clocks {
		ok, _ := r.cond.match(s)
		if !ok {
			continue
		}
		d := e.deadline(r.def)
		if r.def.start() != EventReceived {
			v.PendingClocks = append(v.PendingClocks, d)
			explain(Explanation{Field: "clock:" + r.def.Name, Value: ClockPendingValue, By: "rule", Rule: r.def.Name, Reason: ClockLength(r.def.Amount, r.def.Unit, r.def.start()), Basis: d.Basis})
			continue
		}
		d = e.run(d, received)
		v.Deadlines = append(v.Deadlines, d)
		explain(d.explain())
	}
	v.Deadline = earliest(v.Deadlines)

	// Route.
	v.Route = e.pack.Routing.Default
	routeBy := Explanation{Field: "route", By: "default", Reason: "未命中任何分派规则，按默认分派"}
	for _, r := range e.routes {
		if ok, why := r.cond.match(s); ok {
			v.Route = mergeRoute(r.def.Route, e.pack.Routing.Default)
			if why == "" {
				why = "满足规则条件"
			}
			routeBy = Explanation{Field: "route", By: "rule", Rule: r.def.ID, Reason: why, Basis: e.basis(r.def.Ground)}
			break
		}
	}
	routeBy.Value = v.Route.Department + "/" + v.Route.Queue
	explain(routeBy)

	// Escalation.
	if g := e.grades[s.grade]; len(g.Alert) > 0 {
		level := max(g.AlertLevel, 1)
		v.Escalation.Alerts = append(v.Escalation.Alerts, Alert{At: received, Level: level, Step: "grade " + g.Name, Notify: g.Alert, Basis: e.basis(g.Ground)})
		explain(Explanation{Field: "escalation", Value: "受理即通报：" + strings.Join(g.Alert, "、"), By: "rule", Rule: "grade " + g.Name, Basis: e.basis(g.Ground)})
	}
	for _, d := range v.Deadlines {
		v.Escalation.Alerts = append(v.Escalation.Alerts, e.ladder(d)...)
	}
	v.Escalation = settle(v.Escalation, now)
	return v
}

// categorize decides the category: a source field, a decisive rule, the
// model when confident, a non-decisive rule, the model even when unsure,
// the default when nothing is known. The model is the trained one the pack
// or configuration names, else the pack's naive Bayes classifier. When the
// model is unsure, suggestions are its two likeliest categories (the case
// is then marked category_uncertain); nil otherwise.
func (e *Engine) categorize(s *subject) (x Explanation, suggestions []string) {
	for _, field := range e.pack.Categories.FromExtra {
		if name := s.c.Extra[field]; e.catNames[name] {
			return Explanation{Field: "category", Value: name, By: "input", Reason: fmt.Sprintf("来源数据的“%s”字段已写明分类", field), Confidence: 1}, nil
		}
	}
	var hint *Explanation
	for _, r := range e.catRules {
		ok, why := r.cond.match(s)
		if !ok {
			continue
		}
		x := Explanation{Field: "category", Value: r.def.Category, By: "rule", Rule: r.def.ID, Reason: why, Basis: e.basis(r.def.Ground), Confidence: 1}
		if r.def.decisive() {
			return x, nil
		}
		if hint == nil {
			hint = &x
		}
	}
	if e.model != nil {
		return e.categorizeByModel(s, hint)
	}
	if e.classifier != nil {
		p := e.classifier.Predict(s.lower)
		floor := e.pack.Categories.Classifier.withDefaults().MinConfidence
		reason := fmt.Sprintf("分类模型（按字词特征统计）判定，把握 %.0f%%，其次为“%s”，认识文中 %d 个字词特征", p.Confidence*100, p.RunnerUp, p.Features)
		if t := e.classifier.trained; t != nil {
			reason += fmt.Sprintf("；已学习坐席更正 %d 条", t.corrections)
		}
		unsure := []string{p.Category, p.RunnerUp}
		switch {
		case p.Features > 0 && p.Confidence >= floor:
			return Explanation{Field: "category", Value: p.Category, By: "model", Rule: "naive_bayes", Confidence: round3(p.Confidence), Reason: reason}, nil
		case hint != nil:
			hint.Reason += fmt.Sprintf("；分类模型倾向“%s”但把握不足（%.0f%%，低于 %.0f%%）", p.Category, p.Confidence*100, floor*100)
			return *hint, nil
		case p.Features > 0:
			return Explanation{Field: "category", Value: p.Category, By: "model", Rule: "naive_bayes", Confidence: round3(p.Confidence),
				Reason: reason + fmt.Sprintf("；把握低于 %.0f%%，请核对分类", floor*100)}, unsure
		}
		return Explanation{Field: "category", Value: e.pack.Categories.Default, By: "default", Reason: "未命中决定性分类规则，分类模型也不认识文中的字词，按默认分类"}, nil
	}
	if hint != nil {
		return *hint, nil
	}
	return Explanation{Field: "category", Value: e.pack.Categories.Default, By: "default", Reason: "未命中任何分类规则，按默认分类"}, nil
}

// percent renders a confidence for people: whole percents, never 0 % or
// 100 % (no model is certain), "不足 1%" and "99% 以上" at the ends.
func percent(f float64) string {
	switch v := math.Round(f * 100); {
	case v < 1:
		return "不足 1%"
	case v > 99:
		return "99% 以上"
	default:
		return fmt.Sprintf("%.0f%%", v)
	}
}

// kindNames name the model kinds for people.
var kindNames = map[string]string{KindLogistic: "逻辑回归", KindNaiveBayes: "朴素贝叶斯"}

// categorizeByModel decides the category with the trained model: as agents
// corrected texts alike, else the model's category when it is at least as
// sure as its abstain threshold; below it the first non-decisive rule that
// matched, else the model's category, marked uncertain with the model's
// two likeliest categories.
func (e *Engine) categorizeByModel(s *subject, hint *Explanation) (Explanation, []string) {
	if x, ok := e.recalls[FieldCategory].recall(s.lower); ok {
		return Explanation{Field: "category", Value: x.Value, By: "model", Rule: "agent_corrections", Reason: x.explain(x.Value), Confidence: round3(x.Confidence)}, nil
	}
	m := e.model
	p := m.Explain(s.lower)
	if p.Known == 0 {
		if hint != nil {
			return *hint, nil
		}
		return Explanation{Field: "category", Value: e.pack.Categories.Default, By: "default", Reason: fmt.Sprintf("未命中决定性分类规则，分类模型 %s 也不认识文中的字词，按默认分类，待人工确认", m.Manifest.ID)},
			[]string{e.pack.Categories.Default}
	}
	reason := fmt.Sprintf("分类模型（%s，%s，学习 %d 条工单）判定，置信度 %s，其次为“%s”（%s）",
		kindNames[m.Manifest.Kind], m.Manifest.ID, m.Manifest.Data.Rows, percent(p.Confidence), p.RunnerUp, percent(p.RunnerUpConfidence))
	if len(p.Pushed) > 0 {
		reason += "；推动判定的字词：“" + strings.Join(p.Pushed, "”“") + "”"
	}
	x := Explanation{Field: "category", Value: p.Category, By: "model", Rule: m.Manifest.Kind, Confidence: round3(p.Confidence), Reason: reason}
	if !m.Uncertain(p) {
		return x, nil
	}
	unsure := fmt.Sprintf("低于确认阈值 %.0f%%（交叉验证中该阈值以上的判定 %.0f%% 正确），待人工确认分类", m.Manifest.Abstain.Threshold*100, m.Manifest.Abstain.Accuracy*100)
	suggestions := []string{p.Category, p.RunnerUp}
	if hint != nil {
		hint.Reason += fmt.Sprintf("；分类模型倾向“%s”（置信度 %.0f%%）但%s", p.Category, p.Confidence*100, unsure)
		return *hint, suggestions
	}
	x.Reason += "；置信度" + unsure
	return x, suggestions
}

// by renders an explanation for the legacy Decision.Reason.
func (x Explanation) by() string {
	switch x.By {
	case "rule":
		return fmt.Sprintf("规则 %s：%s", x.Rule, x.Reason)
	}
	return x.Reason
}

func round3(f float64) float64 {
	r, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'f', 3, 64), 64)
	return r
}

// deadline is a clock not yet started.
func (e *Engine) deadline(c Clock) Deadline {
	return Deadline{Name: c.Name, Title: c.Title, Amount: c.Amount, Unit: string(c.Unit), Start: c.start(), Stop: c.stop(), Basis: e.basis(c.Ground), Default: c.Default}
}

// run starts a clock at the given instant.
func (e *Engine) run(d Deadline, at time.Time) Deadline {
	d.StartedAt = at
	due, err := e.due(Unit(d.Unit), d.Amount, at)
	if err != nil {
		d.Error = err.Error()
		return d
	}
	d.Due = due
	return d
}

// ClockPendingValue is the Value explaining a clock that waits for its
// start event.
const ClockPendingValue = "未开始"

// explain is the explanation of a started clock: its due time (RFC 3339),
// or why it has none, and its length from its start event.
func (d Deadline) explain() Explanation {
	value := d.Due.Format(time.RFC3339)
	if d.Error != "" {
		value = "无法计算：" + d.Error
	}
	return Explanation{Field: "clock:" + d.Name, Value: value, By: "rule", Rule: d.Name, Reason: ClockLength(d.Amount, Unit(d.Unit), d.Start), Basis: d.Basis}
}

func (e *Engine) due(u Unit, n int, start time.Time) (time.Time, error) {
	loc := e.cal.Location()
	switch u {
	case UnitMinutes:
		return start.Add(time.Duration(n) * time.Minute).In(loc), nil
	case UnitHours:
		return start.Add(time.Duration(n) * time.Hour).In(loc), nil
	case UnitCalendarDays:
		return e.cal.AddCalendarDays(start, n)
	case UnitWorkingDays:
		return e.cal.AddWorkingDays(start, n)
	case UnitWorkingHours:
		t, err := e.cal.AddWorkingHours(start, n)
		return t.In(loc), err
	case UnitWorkingMinutes:
		t, err := e.cal.AddWorkingMinutes(start, n)
		return t.In(loc), err
	}
	return time.Time{}, fmt.Errorf("unknown unit %q", u)
}

// ladder schedules the alerts of a running clock's escalation ladder and
// the ladders it continues with.
func (e *Engine) ladder(d Deadline) []Alert {
	var clock Clock
	for _, r := range e.clocks {
		if r.def.Name == d.Name {
			clock = r.def
		}
	}
	if clock.Ladder == "" || d.Due.IsZero() {
		return nil
	}
	var out []Alert
	total := time.Duration(-1) // working time of the clock, computed once
	for name, n := clock.Ladder, 0; name != "" && n <= len(e.ladders); name, n = e.ladders[name].Then, n+1 {
		for _, step := range e.ladders[name].Steps {
			at, err := e.stepTime(step, Unit(d.Unit), d.StartedAt, d.Due, &total)
			if err != nil {
				continue // the clock's own due was computable; a step beyond coverage is skipped
			}
			out = append(out, Alert{At: at, Level: step.Level, Clock: d.Name, Step: step.At, Notify: step.Notify, Basis: e.basis(step.Ground)})
		}
	}
	return out
}

// stepTime is when a step of a clock's ladder alerts. Percentages of a
// clock in working units count working time; total caches the clock's
// working time (negative until computed).
func (e *Engine) stepTime(step Step, u Unit, start, due time.Time, total *time.Duration) (time.Time, error) {
	at, err := parseStepAt(step.At)
	if err != nil {
		return time.Time{}, err
	}
	switch {
	case at.after > 0:
		return due.Add(at.after), nil
	case at.fraction >= 1:
		return due, nil
	case u.working():
		if *total < 0 {
			if *total, err = e.cal.WorkingBetween(start, due); err != nil {
				return time.Time{}, err
			}
		}
		t, err := e.cal.AddWorking(start, time.Duration(float64(*total)*at.fraction).Truncate(time.Second))
		return t.In(e.cal.Location()), err
	default:
		return start.Add(time.Duration(float64(due.Sub(start)) * at.fraction).Truncate(time.Second)).In(e.cal.Location()), nil
	}
}

// settle orders the alerts and sets the level reached by now.
func settle(esc Escalation, now time.Time) Escalation {
	slices.SortStableFunc(esc.Alerts, func(a, b Alert) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return cmp.Compare(a.Level, b.Level)
	})
	esc.Level = 0
	for _, a := range esc.Alerts {
		if !a.At.After(now) && a.Level > esc.Level {
			esc.Level = a.Level
		}
	}
	return esc
}

// Start starts the case's pending clocks that wait for event, as of at,
// and schedules their escalation. It fails for an event the pack does not
// know; a case without such pending clocks is returned unchanged.
func (e *Engine) Start(c Case, event string, at time.Time) (Case, error) {
	if !e.events[event] {
		return c, fmt.Errorf("pack %s: unknown event %q", e.id, event)
	}
	var pending []Deadline
	started := false
	for _, d := range c.PendingClocks {
		if d.Start != event {
			pending = append(pending, d)
			continue
		}
		d = e.run(d, at)
		started = true
		c.Deadlines = append(c.Deadlines, d)
		c.Escalation.Alerts = append(slices.Clone(c.Escalation.Alerts), e.ladder(d)...)
		c.Explanation = append(c.Explanation, d.explain())
	}
	if !started {
		return c, nil
	}
	c.PendingClocks = pending
	c.Deadline = earliest(c.Deadlines)
	c.Escalation = settle(c.Escalation, at)
	return c, nil
}

// earliest is the earliest due among running deadlines that have one;
// a paused clock is not due.
func earliest(ds []Deadline) time.Time {
	var out time.Time
	for _, d := range ds {
		if !d.Due.IsZero() && d.StoppedAt.IsZero() && !d.Paused() && (out.IsZero() || d.Due.Before(out)) {
			out = d.Due
		}
	}
	return out
}

func mergeRoute(r, def Route) Route {
	if r.Department == "" {
		r.Department = def.Department
	}
	if r.Queue == "" {
		r.Queue = def.Queue
	}
	if r.Owner == "" {
		r.Owner = def.Owner
	}
	return r
}

// basis renders a ground for a case: the source's title and clause, the
// quote if any, and whether the value is a configurable default.
func (e *Engine) basis(g Ground) string {
	var parts []string
	if b := g.Basis; b != nil {
		s := "《" + e.titles[b.Source] + "》" + b.Clause
		if b.Quote != "" {
			s += "：" + b.Quote
		}
		parts = append(parts, s)
	}
	if g.Default {
		d := "默认值（种子文件未规定，可配置）"
		if g.Note != "" {
			d += "：" + g.Note
		}
		parts = append(parts, d)
	}
	return strings.Join(parts, "；")
}
