// Package workorders generates labelled telecom work orders for tests of
// model training: varied phrasing, typos, terse agent notes, numbers and
// dates, and side remarks of another category. What a model scores on
// them says nothing about real work orders.
package workorders

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// Row is one generated work order and its category.
type Row struct {
	Text, Category string
}

// Categories are the telecom pack's work-order categories, in the order
// Generate cycles through them.
var Categories = []string{"费用问题", "不知情定制问题", "网络问题", "业务使用问题", "业务办理问题", "服务问题", "营销活动问题", "信息安全问题"}

// workOrderTopics are, per telecom category, what customers and hotline
// agents write about it: sub-topics that overlap across categories on
// purpose (扣费 in fees and in unknowing subscriptions, 信号 in network and
// in service use), so that the generated file is not trivially separable.
var workOrderTopics = map[string][]string{
	"费用问题": {
		"上个月话费无故多扣了%d元", "账单里有一笔%d元的费用看不懂", "套餐外流量费收了%d块，我明明没超",
		"宽带到期了还在扣月租%d元", "国际漫游费%d元太离谱", "充值%d元没到账", "销户后还扣了%d元", "话费突然涨了%d元，没人通知",
	},
	"不知情定制问题": {
		"莫名其妙开通了视频会员，每月扣%d元", "没同意就给我订了彩铃，扣了%d元", "手机上多了个增值业务，扣费%d元，我从来没订过",
		"老人手机被开通了%d元的流量包，本人不知情", "发了条验证码就被订购了业务，每月%d元", "短信说我订购了音乐包%d元/月，我根本没办过",
	},
	"网络问题": {
		"家里信号差，只有一格，打电话断断续续已经%d天了", "宽带老是掉线，一晚上断%d次", "小区4G没信号，5G也连不上，持续%d天",
		"网速慢，测速才%dM，签的是三百兆", "地下车库完全没有信号，报修%d次没人管", "晚上高峰期网页打不开，延迟%d毫秒",
	},
	"业务使用问题": {
		"手机上不了网，显示已连接但打不开网页，重启了%d次", "APP里查不到流量余额，登录提示错误%d", "短信发不出去，提示发送失败已经%d天",
		"副卡用不了共享流量，打了%d次电话", "VOLTE高清通话开不了，设置里是灰的%d天", "积分兑换不了，页面一直转圈%d分钟",
	},
	"业务办理问题": {
		"营业厅办携号转网，被拒绝了%d次说有协议", "要销户，营业厅说要回开户地办理，来回%d公里", "改套餐网上办不了，客服说要等%d个工作日",
		"补卡要求本人到场，我人在外地%d天回不去", "宽带移机申请%d天了还没人上门", "实名认证一直审核不通过，提交了%d次",
	},
	"服务问题": {
		"营业员态度恶劣，排队%d分钟还被骂", "客服电话打了%d次都没人接", "装维师傅约了时间没来，等了%d个小时",
		"投诉了%d次都说在处理，一直没答复", "客服互相推诿，转了%d个部门", "上门人员乱收%d元安装费还不给发票，态度很差",
	},
	"营销活动问题": {
		"参加充%d送话费活动，送的话费没到账", "宣传说送%dG流量，实际没给", "办理时说合约机每月返%d元，结果没返",
		"抽奖中了%d元话费券用不了", "老用户不能参加%d元的优惠活动，差别对待", "促销承诺赠送宽带%d个月，到期就收费了",
	},
	"信息安全问题": {
		"刚办完卡就接到%d个推销电话，信息被泄露了", "天天收到垃圾短信，一天%d条", "有人冒充客服打电话，知道我的身份证号，骗了%d元",
		"营业厅复印了我的身份证没还，担心被盗用，已经%d天", "我的号码被别人实名登记了%d个账号", "骚扰电话一天%d个，标记了也没用",
	},
}

// The framing of work orders: how customers write and how agents note a
// call. %s is the complaint, %s the demand where there are two.
var (
	workOrderFrames = []string{
		"%s，要求%s。", "用户来电反映%s，要求%s", "客户反映：%s。诉求：%s。", "%s！！%s", "来电人称%s，现要求%s，情绪激动",
		"【工单】%s；用户诉求：%s", "%s，%s，请尽快处理", "用户投诉%s。要求%s。已安抚", "%s", "您好，%s，麻烦%s",
	}
	workOrderDemands = []string{"退还费用", "尽快处理", "给个说法", "取消业务并退费", "上门检修", "赔偿损失", "回电解释", "严肃处理相关人员", "核实后答复"}
	// workOrderTypos replace words as people mistype them.
	workOrderTypos = [][2]string{{"已经", "以经"}, {"信号", "型号"}, {"宽带", "宽待"}, {"处理", "出理"}, {"流量", "流亮"}, {"扣了", "口了"}, {"营业厅", "营业听"}}
)

// Generate returns n labelled telecom work orders, as many of each
// category, deterministic for the seed: varied frames, demands, numbers, dates in the text,
// typos, terse agent notes and now and then a second complaint of another
// category in the same text. Its accuracy says nothing about real data.
func Generate(n int, seed uint64) []Row {
	rng := rand.New(rand.NewPCG(seed, 42))
	cats := Categories
	out := make([]Row, 0, n)
	for i := range n {
		cat := cats[i%len(cats)]
		topics := workOrderTopics[cat]
		text := fmt.Sprintf(topics[rng.IntN(len(topics))], 1+rng.IntN(300))
		if rng.IntN(5) == 0 { // a side remark of another category
			other := cats[rng.IntN(len(cats))]
			ts := workOrderTopics[other]
			text += "，另外" + fmt.Sprintf(ts[rng.IntN(len(ts))], 1+rng.IntN(50))
		}
		if rng.IntN(4) == 0 {
			text = fmt.Sprintf("%d月%d号", 1+rng.IntN(12), 1+rng.IntN(28)) + text
		}
		frame := workOrderFrames[rng.IntN(len(workOrderFrames))]
		if strings.Count(frame, "%s") == 2 {
			text = fmt.Sprintf(frame, text, workOrderDemands[rng.IntN(len(workOrderDemands))])
		} else {
			text = fmt.Sprintf(frame, text)
		}
		if rng.IntN(3) == 0 {
			t := workOrderTypos[rng.IntN(len(workOrderTypos))]
			text = strings.Replace(text, t[0], t[1], 1)
		}
		if rng.IntN(10) == 0 {
			text = "手机号138" + fmt.Sprintf("%08d", rng.IntN(1e8)) + " " + text
		}
		out = append(out, Row{Text: text, Category: cat})
	}
	return out
}
