package router

import (
	"testing"
)

// loadTelecom loads the shipped telecom pack.
func loadTelecom(tb testing.TB) *Pack {
	tb.Helper()
	p, err := LoadPack("../configs/policies/telecom.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func TestTrainQuick(t *testing.T) {
	p := loadTelecom(t)
	rows := generateWorkOrders(t, 3000, 1)
	m, err := Train(p, rows, TrainConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range m.Manifest.CV {
		t.Logf("%s acc %.3f f1 %.3f", r.Kind, r.Accuracy, r.MacroF1)
	}
	t.Logf("temp %v abstain %+v", m.Manifest.Temperature, m.Manifest.Abstain)
	for _, b := range m.Manifest.Reliability {
		t.Logf("%+v", b)
	}
	p2 := m.Explain("上个月话费无故多扣了50元，打了三次客服都说在处理，到现在没有答复")
	t.Logf("%+v", p2)
}

func TestReportQuick(t *testing.T) {
	m, err := Train(loadTelecom(t), generateWorkOrders(t, 2000, 1), TrainConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(m.Report())
}
