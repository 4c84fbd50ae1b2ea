package prom

import "testing"

func TestRegistryAndGauges(t *testing.T) {
	r := NewRegistry()
	r.CounterVec("t_requests_total", "Requests.", "result").WithLabelValues("ok").Add(2)
	g := NewGauges(nil)
	lag := g.Gauge("t_lag", "Lag.", "consumer")
	g.collect = func(s Sink) { s.Set(lag, 7, "a") }
	r.MustRegister(g)
	families, err := r.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			switch {
			case m.GetCounter() != nil:
				got[f.GetName()+"/"+m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				got[f.GetName()+"/"+m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
			}
		}
	}
	if len(got) != 2 || got["t_requests_total/ok"] != 2 || got["t_lag/a"] != 7 {
		t.Fatalf("gathered %v", got)
	}
}
