package harness

import (
	"math"
	"sort"
)

// Summary is the median and spread of several runs' values.
type Summary struct {
	N      int     `json:"n"`
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	Mean   float64 `json:"mean"`
	Stdev  float64 `json:"stdev"`
	// Spread is (max-min)/median in percent: how far apart the runs were.
	Spread float64 `json:"spread_pct"`
}

// Summarize returns the summary of vs (NaNs ignored); the zero Summary for
// no values.
func Summarize(vs []float64) Summary {
	xs := make([]float64, 0, len(vs))
	for _, v := range vs {
		if !math.IsNaN(v) {
			xs = append(xs, v)
		}
	}
	if len(xs) == 0 {
		return Summary{}
	}
	sort.Float64s(xs)
	s := Summary{N: len(xs), Min: xs[0], Max: xs[len(xs)-1]}
	if n := len(xs); n%2 == 1 {
		s.Median = xs[n/2]
	} else {
		s.Median = (xs[n/2-1] + xs[n/2]) / 2
	}
	var sum float64
	for _, x := range xs {
		sum += x
	}
	s.Mean = sum / float64(len(xs))
	if len(xs) > 1 {
		var ss float64
		for _, x := range xs {
			ss += (x - s.Mean) * (x - s.Mean)
		}
		s.Stdev = math.Sqrt(ss / float64(len(xs)-1))
	}
	if s.Median != 0 {
		s.Spread = (s.Max - s.Min) / math.Abs(s.Median) * 100
	}
	return s
}

// Ratio is a/b, or NaN when b is zero.
func Ratio(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}
