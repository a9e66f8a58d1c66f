package main

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tousu/tousu/ingest"
)

// complaint is one submission of the corpus: the body of POST
// /api/v1/complaints.
type complaint struct {
	Name        string `json:"name,omitempty"`
	Phone       string `json:"phone,omitempty"`
	Email       string `json:"email,omitempty"`
	Subject     string `json:"subject,omitempty"`
	Description string `json:"description"`
	// kind is how the submission relates to the others (for the corpus
	// test): new, duplicate, repeat or batch.
	kind string
}

// Kinds of submissions in a corpus.
const (
	kindNew       = "new"       // a customer's first complaint
	kindDuplicate = "duplicate" // the same text from the same customer again (a double click, a resend)
	kindRepeat    = "repeat"    // the same customer about the same matter, later, in other words (重复投诉)
	kindBatch     = "batch"     // one of several customers with the same outage (批量投诉)
)

// Shares of the kinds after the first complaints, out of 100.
const (
	shareDuplicate = 5
	shareRepeat    = 10
	shareBatch     = 5
)

// sector is the vocabulary of one policy pack's complaints.
type sector struct {
	subjects []string
	openings []string
	details  []string
	asks     []string
}

var sectors = []sector{
	{ // telecom
		subjects: []string{"宽带断网", "手机信号差", "话费多扣", "套餐变更未生效", "携号转网被拒"},
		openings: []string{
			"我家宽带从%s开始天天断网，晚上七点到十点基本用不了，", "手机在小区里信号只有一格，%s以后打电话总是断线，",
			"%s的账单里多扣了%d元，我没有开通过任何增值业务，", "%s在营业厅办了套餐变更，到现在还是按旧套餐扣费，",
			"申请携号转网，%s收到短信说有未结清的合约，可我的合约早就到期了，",
		},
		details: []string{
			"报修了两次，工单号%s，师傅说会上门，结果一直没人来。", "打10000号转人工排队四十分钟，客服只说已记录，",
			"营业厅说要等后台处理，让我回去等通知，", "客服承诺48小时内回电，到现在都没有人联系我，",
			"孩子上网课全靠这条宽带，老师已经点名好几次了，", "我是做生意的，电话打不通损失了好几单，",
			"我查了清单，%s那天凌晨有三条看不懂的扣费记录，", "光猫的灯一直闪红，重启也没用，",
		},
		asks: []string{"请尽快派人上门修好，并退还断网期间的月租。", "要求退还多扣的话费，给个说法。", "希望给个明确的处理时间，别再让我等了。", "如果再不解决我就去工信部申诉。"},
	},
	{ // property services
		subjects: []string{"小区停水", "电梯故障", "物业费争议", "垃圾清运不及时", "楼上漏水"},
		openings: []string{
			"我们小区%s早上开始停水，物业没有提前通知，", "3号楼电梯%s又坏了，这个月已经第三次，", "物业%s上门催缴物业费%d元，可是服务根本不到位，",
			"楼下的垃圾桶%s起就没人清，味道很大，", "楼上卫生间漏水，%s我家天花板都泡了，",
		},
		details: []string{
			"老人孩子没水用，打物业电话一直占线，", "我家住18楼，老人腿脚不便上下楼很困难，", "找了管家三次，每次都说马上处理，",
			"夏天蚊虫很多，孩子身上都是包，", "物业说要等业委会开会才能决定，", "维修师傅来看了一眼就走了，说没有配件，",
			"我已经拍了照片和视频，随时可以提供，", "前台的工作人员态度很差，直接挂电话，",
		},
		asks: []string{"请物业给出书面答复和赔偿方案。", "希望尽快恢复，并说明原因。", "要求减免这个季度的物业费。", "再不处理我们就集体去住建局反映。"},
	},
	{ // insurance
		subjects: []string{"理赔拖延", "退保扣费", "销售误导", "车险理赔定损"},
		openings: []string{
			"我%s报案的医疗险理赔，材料都交齐了，", "%s申请退保，被扣了%d元手续费，签合同的时候没人说过，",
			"业务员%s推销的时候说是存款，后来才知道是分红险，", "我的车%s被追尾，定损金额和修理厂报价差了%d元，",
		},
		details: []string{
			"到现在一个多月了还没有结果，客服每次都说在审核，", "理赔员让我补交材料，补了三次每次要的都不一样，",
			"保单号%s，合同上的条款和当时说的完全不一样，", "打95500转了好几个部门，没有人负责，",
			"我母亲今年七十多岁，根本看不懂这些条款，", "定损员态度敷衍，照片都没拍全，",
		},
		asks: []string{"请在十日内给出理赔结果。", "要求全额退还保费。", "请如实说明扣费依据。", "希望按合同约定赔付，否则向金融监管局投诉。"},
	},
	{ // automotive dealer
		subjects: []string{"新车质量问题", "4S店维修", "延保纠纷", "加装费用"},
		openings: []string{
			"我%s在4S店提的新车，开了不到两千公里变速箱就异响，", "车辆%s进店保养，取车后发现漆面有划痕，",
			"%s买车时被要求加装%d元的精品包，不加就不给提车，", "去年买的延保，%s发动机故障却说不在保修范围，",
		},
		details: []string{
			"店里说是正常现象，让我再开开看，", "维修单号%s，前后修了三次都没修好，", "销售顾问现在电话也不接了，",
			"车还在贷款期，每天上下班都提心吊胆，", "售后经理答应给个方案，过了一周没消息，",
		},
		asks: []string{"要求按三包规定换车。", "请退还加装费用。", "希望厂家出面处理。", "请给出书面检测报告。"},
	},
	{ // hotel
		subjects: []string{"酒店卫生", "预订被取消", "押金未退"},
		openings: []string{
			"%s入住贵酒店，床单上有明显污渍，", "我%s通过平台预订的房间，到店说没有房了，", "%s退房后押金%d元到现在没有退回，",
		},
		details: []string{
			"前台说会换房，结果让我们等了两个小时，", "订单号%s，平台客服说要酒店确认，", "带着孩子大半夜只能另找住处，",
			"卫生间有头发，浴巾也有异味，",
		},
		asks: []string{"要求退还房费并道歉。", "请尽快退还押金。", "希望酒店给出合理解释。"},
	},
}

// filler is the middle of longer complaints: what customers add when they
// write at length.
var filler = []string{
	"这已经不是第一次了，", "上个月也是这样，", "我打了不下十次电话，", "每次都说会反馈给相关部门，", "到底谁来负责？",
	"我的电话是%s，白天随时可以联系，", "家里还有老人需要照顾，", "真的很失望，", "身边好几个朋友也遇到同样的问题，",
	"我已经在网上看到很多人投诉，", "请不要再让我一遍一遍重复说明情况了，", "麻烦尽快处理谢谢！！", "（之前投诉过一次，没有下文）",
	"截图和录音我都保存了，", "我要求的并不过分，", "按照规定你们应该在期限内答复，",
}

// typos replaces words as people type them in a hurry (homophones).
var typos = strings.NewReplacer("已经", "以经", "在", "再", "的时候", "的时侯", "联系", "连系")

var surnames = []rune("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗")

// generator makes a corpus deterministically from a seed.
type generator struct {
	r      *rand.Rand
	run    string
	day    time.Time
	offset int64 // spreads the phone numbers of generators apart
}

func newGenerator(seed uint64, run string) *generator {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return &generator{r: r, run: run, day: time.Date(2026, 11, 20, 0, 0, 0, 0, time.FixedZone("CST", 8*3600)), offset: r.Int64N(100_000_000)}
}

func (g *generator) pick(s []string) string { return s[g.r.IntN(len(s))] }

// date is a date as customers write it: 12月3号, 2026-11-28, 上周五, 昨天晚上.
func (g *generator) date() string {
	d := g.day.AddDate(0, 0, g.r.IntN(16))
	switch g.r.IntN(5) {
	case 0:
		return fmt.Sprintf("%d月%d号", d.Month(), d.Day())
	case 1:
		return d.Format("2006-01-02")
	case 2:
		return fmt.Sprintf("%d月%d日", d.Month(), d.Day())
	case 3:
		return "上周" + []string{"一", "二", "三", "四", "五", "六", "日"}[g.r.IntN(7)]
	}
	return "昨天晚上"
}

// fill formats a fragment's verbs: %s a date or a number, %d an amount.
func (g *generator) fill(f string) string {
	var args []any
	for i := 0; i+1 < len(f); i++ {
		if f[i] != '%' {
			continue
		}
		switch f[i+1] {
		case 's':
			if g.r.IntN(3) == 0 {
				args = append(args, fmt.Sprintf("GD%s%04d", g.day.Format("20060102"), g.r.IntN(10000)))
			} else {
				args = append(args, g.date())
			}
		case 'd':
			args = append(args, 30+g.r.IntN(5000))
		}
	}
	return fmt.Sprintf(f, args...)
}

// text is a complaint of about want characters (at least 50, at most 600).
func (g *generator) text(s sector, want int) string {
	ask := g.pick(s.asks)
	var b strings.Builder
	b.WriteString(g.fill(g.pick(s.openings)))
	for utf8.RuneCountInString(b.String())+utf8.RuneCountInString(ask) < max(want, 50) {
		if g.r.IntN(3) == 0 {
			b.WriteString(g.fill(g.pick(filler)))
		} else {
			b.WriteString(g.fill(g.pick(s.details)))
		}
	}
	b.WriteString(ask)
	t := b.String()
	if g.r.IntN(4) == 0 {
		t = typos.Replace(t)
	}
	if g.r.IntN(8) == 0 { // full-width digits, as some input methods type them
		t = strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r - '0' + '０'
			}
			return r
		}, t)
	}
	if n := utf8.RuneCountInString(t); n > 600 {
		t = string([]rune(t)[:600])
	}
	return t
}

// length draws a complaint length: most 100–300 characters, some short
// one-liners, a long tail up to 600.
func (g *generator) length() int {
	switch p := g.r.IntN(100); {
	case p < 10:
		return 50 + g.r.IntN(40)
	case p < 85:
		return 100 + g.r.IntN(220)
	default:
		return 320 + g.r.IntN(280)
	}
}

// mobilePrefixes are prefixes of Chinese mobile numbers in use.
var mobilePrefixes = []string{"130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "153", "155",
	"156", "157", "158", "159", "166", "176", "177", "178", "180", "181", "182", "183", "185", "186", "187", "188", "189", "198", "199"}

// phone is the i-th distinct customer's mobile number, sometimes written
// with +86 or spaces. Numbers differ by i within a generator, and between
// generators by their offset.
func (g *generator) phone(i int) string {
	p := fmt.Sprintf("%s%08d", mobilePrefixes[i%len(mobilePrefixes)], (int64(i)*7919+g.offset)%100_000_000)
	switch g.r.IntN(6) {
	case 0:
		return "+86 " + p
	case 1:
		return p[:3] + " " + p[3:7] + " " + p[7:]
	}
	return p
}

// corpus returns n submissions: new customers' complaints, with duplicates,
// repeats and batches among them in the shares above.
func (g *generator) corpus(n int) []complaint {
	out := make([]complaint, 0, n)
	customers := 0
	newCustomer := func() (string, string, string) {
		customers++
		name := string(surnames[g.r.IntN(len(surnames))]) + []string{"先生", "女士", "", "某"}[g.r.IntN(4)]
		email := ""
		if g.r.IntN(5) == 0 {
			email = fmt.Sprintf("user%d.%s@example.com", customers, g.run)
		}
		return name, g.phone(customers), email
	}
	for len(out) < n {
		p := g.r.IntN(100)
		switch {
		case len(out) > 10 && p < shareDuplicate:
			c := out[g.r.IntN(len(out))]
			c.kind = kindDuplicate
			out = append(out, c)
		case len(out) > 10 && p < shareDuplicate+shareRepeat:
			prev := out[g.r.IntN(len(out))]
			s := sectors[g.r.IntN(len(sectors))]
			out = append(out, complaint{Name: prev.Name, Phone: prev.Phone, Email: prev.Email, Subject: prev.Subject,
				Description: "第二次反映：" + g.text(s, g.length()), kind: kindRepeat})
		case p < shareDuplicate+shareRepeat+shareBatch:
			s := sectors[1] // an outage many neighbours report alike
			text := g.text(s, 60+g.r.IntN(80))
			for range min(6, n-len(out)) {
				name, phone, email := newCustomer()
				out = append(out, complaint{Name: name, Phone: phone, Email: email, Subject: s.subjects[0], Description: text, kind: kindBatch})
			}
		default:
			s := sectors[g.r.IntN(len(sectors))]
			name, phone, email := newCustomer()
			c := complaint{Name: name, Phone: phone, Email: email, Description: g.text(s, g.length()), kind: kindNew}
			if g.r.IntN(2) == 0 {
				c.Subject = g.pick(s.subjects)
			}
			out = append(out, c)
		}
	}
	return out[:n]
}

// envelope is what the gateway publishes for c, the i-th submission of the
// run: the payload the plain producer writes.
func (c complaint) envelope(run string, i int, at time.Time) ingest.Envelope {
	id := ingest.NewID(ingest.ChannelAPI, "bench", fmt.Sprintf("%s-%d", run, i))
	return ingest.Envelope{V: ingest.SchemaVersion, ID: id, Reference: ingest.ReferenceFor(id), Channel: ingest.ChannelAPI,
		Source: "api:bench", ReceivedAt: at, Name: c.Name, Phone: c.Phone, Email: c.Email, Subject: c.Subject, Description: c.Description}
}
