package soak

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"hash/fnv"
	"io"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/transform"
)

// hotlineHeader is the header of a call-centre export as the hotline
// systems write it, with a column tousu does not map (回访结果).
var hotlineHeader = []string{"工单号", "受理时间", "来电号码", "客户姓名", "业务类型", "投诉内容", "坐席工号", "回访结果"}

// hotlineNotes are what hotline agents type while the customer talks:
// terse, with dates, typos, full-width signs and numbers in the text.
var hotlineNotes = []string{
	"客户来电反映%s宽带断网3天，报修单号未给，要求尽快上门。（%s）",
	"用户称12月2号缴费100元未到帐，已核实扣款成功，请后台查下 %s %s",
	"小区电梯停用一周，物业不处理，老人上下楼困难，客户情绪激动！！ %s/%s",
	"来电投诉4S店保养多收工时费280元,发票与结算单不符。要求退差价。%s %s",
	"酒店押金500元退房后15个工作日仍未退回，客户要求今日内回复 %s（%s）",
	"客户反应冰箱收到时侧面凹陷，商家拒绝换货，订单号见附件 %s %s",
	"手机信号差，室内只有一格，打电话老是断，投诉过两次没人管 %s。%s",
	"理赔材料11月20日已交齐，至今无进展，客服只说在审核中 %s %s",
}

var hotlineTypes = []string{"宽带", "话费", "物业", "汽车", "酒店", "家电", "移动网络", "保险"}

// HotlineRow is the n-th row of a generated export of run tag: its work
// order number and the phone number of its caller, distinct for the
// first 10,000 rows of a run and from run to run as far as the tag's hash
// goes.
func HotlineRow(tag string, n int) (order, phone string) {
	h := fnv.New32a()
	h.Write([]byte(tag))
	return fmt.Sprintf("GD%s%07d", tag, n), fmt.Sprintf("139%04d%04d", h.Sum32()%10000, n%10000)
}

// WriteHotline writes a call-centre export of rows first to first+n-1 of
// run tag to w in GB18030 (as Excel on Chinese Windows saves it), each
// row's complaint text carrying tag. Rows with the same numbers have the
// same work-order number, so a row exported twice is one complaint.
func WriteHotline(w io.Writer, tag string, first, n int) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	enc := transform.NewWriter(bw, simplifiedchinese.GB18030.NewEncoder())
	cw := csv.NewWriter(enc)
	cw.UseCRLF = true
	if err := cw.Write(hotlineHeader); err != nil {
		return err
	}
	day := time.Date(2026, 12, 1, 8, 30, 0, 0, time.FixedZone("CST", 8*3600))
	for i := first; i < first+n; i++ {
		order, phone := HotlineRow(tag, i)
		at := day.Add(time.Duration(i%(9*3600)) * time.Second)
		note := fmt.Sprintf(hotlineNotes[i%len(hotlineNotes)], tag, order)
		if i%7 == 3 {
			phone = phone[:3] + "-" + phone[3:7] + "-" + phone[7:] // as some agents type it
		}
		if err := cw.Write([]string{order, at.Format("2006/1/2 15:04"), phone, "客户" + string(rune('甲'+i%10)), hotlineTypes[i%len(hotlineTypes)],
			note, fmt.Sprintf("A%04d", i%317), []string{"", "满意", "不满意", "未接通"}[i%4]}); err != nil {
			return err
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	return bw.Flush()
}
