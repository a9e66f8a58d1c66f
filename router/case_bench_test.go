package router

import (
	"encoding/json"
	"testing"
	"time"
)

// BenchmarkCaseJSON is the encoding of a case as the router writes it to
// the cases topic and the indexer and escalator read it back.
func BenchmarkCaseJSON(b *testing.B) {
	e := telecom(b)
	received := time.Date(2026, 12, 4, 16, 40, 0, 0, shanghai)
	c := e.Open(reachable("家里宽带从12月3号开始天天断网，晚上七点到十点基本用不了，报修两次工单号GD20261203088，师傅说会上门，结果一直没人来。"+
		"孩子上网课全靠这条宽带，客服承诺48小时内回电，到现在都没有人联系我。再不解决我就去工信部投诉，要求退还断网期间的月租。", received), received)
	c.ID, c.Revision = "TS20261204A7", 3
	raw, err := json.Marshal(c)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("encode", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(c); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		b.ReportAllocs()
		for b.Loop() {
			var got Case
			if err := json.Unmarshal(raw, &got); err != nil {
				b.Fatal(err)
			}
		}
	})
}
