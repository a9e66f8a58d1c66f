package normalize

import (
	"strings"
	"testing"
	"time"

	"github.com/tousu/tousu/ingest"
)

// cleanInputs are texts as the channels deliver them: a terse agent
// note, a web form paste with full-width digits and Windows line breaks,
// and a long mail body with stray control characters and ideographic
// spaces.
var cleanInputs = []struct {
	name string
	text string
}{
	{"note", "客户来电催办，已转网络部。12/3回访"},
	{"form", "手机信号差了三天，\r\n打１００００转人工排队４０分钟，\r\n\r\n\r\n客服说ＧＤ２０２６１２０３００１２已记录。　　请尽快处理！！"},
	{"mail", strings.Repeat("您好：\r\n　　我家宽带从12月3号开始天天断网\x00，晚上七点到十点基本用不了，报修两次工单号GD20261203088，\u200b师傅说会上门，结果一直没人来。\t\r\n", 6)},
}

// BenchmarkCleanText is text cleaning per complaint text.
func BenchmarkCleanText(b *testing.B) {
	for _, in := range cleanInputs {
		b.Run(in.name, func(b *testing.B) {
			b.SetBytes(int64(len(in.text)))
			b.ReportAllocs()
			for b.Loop() {
				CleanText(in.text)
			}
		})
	}
}

// BenchmarkNormalize is the whole normalization of one envelope: text
// cleaning, the customer's identity, order numbers and amounts.
func BenchmarkNormalize(b *testing.B) {
	id := ingest.NewID(ingest.ChannelAPI, "", "bench")
	env := ingest.Envelope{V: ingest.SchemaVersion, ID: id, Reference: ingest.ReferenceFor(id), Channel: ingest.ChannelAPI,
		ReceivedAt: time.Date(2026, 12, 6, 9, 15, 0, 0, time.UTC), Name: " 王女士 ", Phone: "+86 139 1234 5678", Email: "Wang.L@Example.COM",
		Subject: "话费多扣", Description: cleanInputs[2].text + "12月账单多扣了58.5元，订单号ORD20261203-7781。"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Normalize(env); err != nil {
			b.Fatal(err)
		}
	}
}
