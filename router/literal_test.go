package router

import (
	"reflect"
	"regexp"
	"regexp/syntax"
	"slices"
	"testing"
	"time"
)

// TestNeededLiterals: the strings a pattern needs are those every match
// contains, one of each group; a part that may match without fixed text
// (.{0,8}, a long class, an optional word, case folding) adds no group.
func TestNeededLiterals(t *testing.T) {
	tests := []struct {
		expr string
		want [][]string
	}{
		{`(好几|多|两|三)(次|回|趟)`, [][]string{{"三", "两", "多", "好几"}, {"回", "次", "趟"}}},
		{`第[二三两]次`, [][]string{{"第"}, {"三", "两", "二"}, {"次"}}},
		{`(^|[^0-9a-z])12315([^0-9]|$)`, [][]string{{"12315"}}},
		{`(配件|零件)[^。！？\n]{0,10}(没货|缺货)`, [][]string{{"配件", "零件"}, {"缺货", "没货"}}},
		{`(已经?|以经|正在)(向法院)?(起诉|打官司)`, [][]string{{"以经", "已", "正在"}, {"打官司", "起诉"}}},
		{`[0-9]{2,}件`, [][]string{{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}, {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}, {"件"}}},
		{`等了[0-9一二三四五六七八九十两几半]+小时`, [][]string{{"等了"}, {"小时"}}},
		{`(没有?|未经?)验收`, [][]string{{"未", "没"}, {"验收"}}},
		{`(承诺|说好)?收益`, [][]string{{"收益"}}},
		{`(投诉|)`, nil},
		{`(?i)abs`, nil},
		{`.{0,8}`, nil},
		{`[^。！？]+`, nil},
		{`[\x{FFFD}a]坏了`, [][]string{{"坏了"}}},
		{`\x{FFFD}坏了`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			tree, err := syntax.Parse(tt.expr, syntax.Perl)
			if err != nil {
				t.Fatal(err)
			}
			got := neededLiterals(tree.Simplify())
			for _, g := range got {
				slices.Sort(g)
			}
			for _, g := range tt.want {
				slices.Sort(g)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("neededLiterals(%s) = %q, want %q", tt.expr, got, tt.want)
			}
		})
	}
}

// TestPatternsFindAsRegexps: every regexp of every shipped pack finds,
// through its pre-filter, exactly what the regexp alone finds (first
// match and all matches) in every golden case and example of its pack,
// and in texts made to come close; so do the date forms DatesInText
// reads, on all those texts and texts full of dates.
func TestPatternsFindAsRegexps(t *testing.T) {
	close := []string{
		"",
		"话费多扣了50块，打了三次客服都不管",
		"12315",
		"我打12315投诉过了,今天是第二次来电",
		"刹车片换了以后踩刹车还是有异响，第2次进站了",
		"配件\n等了",   // the words, but the newline between them
		"不\xff给保修", // an invalid byte, read as U+FFFD
		"客户称2026年12月3日起宽带断网，12月5号报修，师傅说上个月就坏了",
		"2026-12-3 买的手机，2026/12/05 屏幕就花了，2026.12.6再去店里",
		"去年6月份办的套餐，今年3月2日起多扣费，前年十二月3号开的户",
		"6月份 6个月 包月 上月 上个月 十二月三十一号 13月45日 2026年13月",
		"２０２６年１２月３日（全角数字） 12 月 3 号 2026 年 12 月",
		"鍙风爜 2026年\xff12月 乱码里的日期 20261203",
	}
	dateForms := []pattern{reFullDate, reYearMonth, reRelYearMonth, reMonthDay, reMonth, reLastMonth, reYear}
	for _, p := range dateForms {
		if len(p.needs) == 0 && p.literal == "" {
			t.Errorf("date form %s: no pre-filter", p.re)
		}
	}
	patterns, texts := 0, 0
	for _, pc := range shippedCorpora(t) {
		own := slices.Clone(close)
		for _, c := range pc.cases {
			own = append(own, ClassifierText(c.Subject, c.Description))
		}
		for _, cc := range engineConditions(pc.engine) {
			for _, p := range cc.regexps {
				for _, text := range own {
					checkPattern(t, p, text)
				}
				patterns++
			}
		}
		for _, p := range dateForms {
			for _, text := range own {
				checkPattern(t, p, text)
			}
		}
		texts += len(own)
	}
	if patterns < 50 || texts < 5000 {
		t.Fatalf("checked %d patterns on %d texts; the shipped packs have more", patterns, texts)
	}
}

// TestShippedDecisionsUnchanged decides every golden case and example of
// every shipped pack with the pre-filters and again with every regexp run
// as it is and every keyword looked for (the matching before pre-filters,
// literal and rune set): the verdicts, explanations included, are the
// same.
func TestShippedDecisionsUnchanged(t *testing.T) {
	at := time.Date(2026, 3, 16, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))
	n := 0
	for _, pc := range shippedCorpora(t) {
		plain, err := LoadEngine("../configs/policies/" + pc.name + ".yaml")
		if err != nil {
			t.Fatal(err)
		}
		filtered := 0
		for _, cc := range engineConditions(plain) {
			for i, p := range cc.regexps {
				if p.literal != "" || p.needs != nil {
					filtered++
				}
				cc.regexps[i] = pattern{re: p.re}
			}
			for _, bits := range [][]runeBits{cc.keywordRunes, cc.allRunes, cc.notRunes} {
				for i, b := range bits {
					if b != nil {
						filtered++
					}
					bits[i] = nil
				}
			}
		}
		if filtered == 0 {
			t.Errorf("%s: no regexp has a pre-filter", pc.name)
		}
		for _, c := range pc.cases {
			got, want := pc.engine.Decide(c, at), plain.Decide(c, at)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s: %q:\n got %+v\nwant %+v", pc.name, c.Description, got, want)
			}
			n++
		}
	}
	if n < 5000 {
		t.Errorf("decided %d complaints; the shipped packs have more", n)
	}
}

// FuzzPattern compares a pattern's pre-filtered search with the regexp's
// own on random expressions and texts, seeded with the shipped packs'
// regexps and texts.
func FuzzPattern(f *testing.F) {
	corpora := shippedCorpora(f)
	for i, p := range shippedPatterns(f, corpora) {
		pc := corpora[i%len(corpora)]
		c := pc.cases[i%len(pc.cases)]
		f.Add(p.re.String(), ClassifierText(c.Subject, c.Description))
	}
	f.Add(`(好几|多|两|三)(次|回|趟)`, "修了好几回都没修好")
	f.Add(`第[二三两]次`, "这是第\ufffd次")
	f.Fuzz(func(t *testing.T, expr, text string) {
		re, err := regexp.Compile(expr)
		if err != nil {
			return
		}
		checkPattern(t, newPattern(re), text)
	})
}

// checkPattern fails t when p finds otherwise than its regexp in text.
func checkPattern(tb testing.TB, p pattern, text string) {
	tb.Helper()
	if got, want := p.find(text), p.re.FindStringIndex(text); !reflect.DeepEqual(got, want) {
		tb.Fatalf("%s in %q: find %v, the regexp %v (needs %q)", p.re, text, got, want, p.needs)
	}
	if got, want := p.findAll(text), p.re.FindAllStringIndex(text, -1); !reflect.DeepEqual(got, want) {
		tb.Fatalf("%s in %q: findAll %v, the regexp %v (needs %q)", p.re, text, got, want, p.needs)
	}
	if got, want := p.findAllSubmatch(text), p.re.FindAllStringSubmatchIndex(text, -1); !reflect.DeepEqual(got, want) {
		tb.Fatalf("%s in %q: findAllSubmatch %v, the regexp %v (needs %q)", p.re, text, got, want, p.needs)
	}
	if p.re.MatchString(text) && !p.mayOccur(runeSetOf(text)) {
		tb.Fatalf("%s in %q: matches, but the rune set rules it out (needs %q)", p.re, text, p.needs)
	}
}

// shippedPatterns are the regexps of every condition of the packs.
func shippedPatterns(tb testing.TB, corpora []packCorpus) []pattern {
	tb.Helper()
	var out []pattern
	for _, pc := range corpora {
		for _, cc := range engineConditions(pc.engine) {
			out = append(out, cc.regexps...)
		}
	}
	return out
}

// engineConditions are the compiled conditions of every rule of e.
func engineConditions(e *Engine) []*compiledCondition {
	return slices.Concat(conditionsOf(e.typeRules), conditionsOf(e.catRules), conditionsOf(e.validity),
		conditionsOf(e.gradeRules), conditionsOf(e.clocks), conditionsOf(e.routes))
}

// conditionsOf are the compiled conditions of rules.
func conditionsOf[T any](rules []rule[T]) []*compiledCondition {
	out := make([]*compiledCondition, 0, len(rules))
	for _, r := range rules {
		out = append(out, r.cond)
	}
	return out
}

// TestClassifierKnownAsFeatures: the classifier looks up the n-grams of a
// text as features and unique list them: the same known n-grams in the
// same order (the order its scores are summed in), for every shipped
// pack's classifier on its golden cases and examples and on text with
// digits, Latin letters, full-width forms and punctuation.
func TestClassifierKnownAsFeatures(t *testing.T) {
	extra := []string{"", "！！！", "ＷＩＦＩ连不上，光猫红灯闪，报修单号GD20260316001", "话费多扣了58块、58块、58块", "宽带 宽带\t宽带"}
	for _, pc := range shippedCorpora(t) {
		m := pc.engine.classifier
		if m == nil {
			t.Fatalf("%s: no classifier", pc.name)
		}
		texts := slices.Clone(extra)
		for _, c := range pc.cases {
			texts = append(texts, ClassifierText(c.Subject, c.Description))
		}
		for _, text := range texts {
			var want []int
			for _, f := range unique(features(text, m.min, m.max)) {
				if i, ok := m.vocab[f]; ok {
					want = append(want, i)
				}
			}
			if got := m.known(text); !slices.Equal(got, want) {
				t.Fatalf("%s: known(%q) = %v, want %v", pc.name, text, got, want)
			}
		}
	}
}
