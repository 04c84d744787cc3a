// Package stats holds the one percentile formula that the benchmarks,
// bsbench and the abuse test report latencies with.
package stats

import (
	"slices"
	"time"
)

// Percentile returns the nearest-rank p-quantile (0 < p ≤ 1) of d, which
// it sorts in place; 0 for no data.
func Percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	i := int(float64(len(d))*p+0.5) - 1
	return d[max(0, min(len(d)-1, i))]
}
