package router

import (
	"testing"
	"time"
)

// BenchmarkTrain trains on 20,000 generated work orders: five-fold
// cross-validation of both kinds, then the chosen kind on every row.
func BenchmarkTrain(b *testing.B) {
	p := loadTelecom(b)
	rows := generateWorkOrders(b, 20000, 1)
	b.ResetTimer()
	for b.Loop() {
		if _, err := Train(p, rows, TrainConfig{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(rows)*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// benchModel is a model trained once for the decide benchmarks.
func benchModel(b *testing.B, kind string) *Model {
	b.Helper()
	m, err := Train(loadTelecom(b), generateWorkOrders(b, 4000, 1), TrainConfig{Kind: kind})
	if err != nil {
		b.Fatal(err)
	}
	return m
}

const benchText = "用户来电反映：上个月话费无故多扣了50元，打了三次客服都说在处理，到现在没有答复。诉求：退还费用并给个说法。"

// BenchmarkModelPredict is the model's decision alone.
func BenchmarkModelPredict(b *testing.B) {
	for _, kind := range []string{KindLogistic, KindNaiveBayes} {
		b.Run(kind, func(b *testing.B) {
			m := benchModel(b, kind)
			b.ReportAllocs()
			for b.Loop() {
				m.Predict(benchText)
			}
		})
	}
}

// BenchmarkDecideWithModel is a pack's whole decision on a complaint,
// the category by a trained model with its explanation.
func BenchmarkDecideWithModel(b *testing.B) {
	e, err := NewEngine(loadTelecom(b))
	if err != nil {
		b.Fatal(err)
	}
	if e, err = e.WithModel(benchModel(b, KindLogistic)); err != nil {
		b.Fatal(err)
	}
	benchDecide(b, e)
}

// benchDecide measures e's decision on benchText.
func benchDecide(b *testing.B, e *Engine) {
	at := time.Date(2026, 3, 16, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))
	c := hotlineOrder(benchText, at)
	b.ReportAllocs()
	for b.Loop() {
		e.Decide(c, at)
	}
}

// BenchmarkDecide is the same decision by the pack's own classifier, for
// comparison.
func BenchmarkDecide(b *testing.B) {
	e, err := NewEngine(loadTelecom(b))
	if err != nil {
		b.Fatal(err)
	}
	benchDecide(b, e)
}
