package stats

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	d := []time.Duration{10, 1, 9, 2, 8, 3, 7, 4, 6, 5}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{0.5, 5}, {0.99, 10}, {0.1, 1}, {1, 10}, {0.01, 1}} {
		if got := Percentile(d, tc.p); got != tc.want {
			t.Errorf("p%v = %v, want %v", tc.p*100, got, tc.want)
		}
	}
	if Percentile(nil, 0.5) != 0 {
		t.Error("no data")
	}
}
