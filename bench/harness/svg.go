package harness

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// Plot colours, one per server in the order servers are listed.
var palette = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"}

const (
	svgW, svgH                     = 720, 400
	padL, padR, padT, padB float64 = 80, 170, 40, 60
)

// Bar is one bar of a bar chart: a value with its error bar.
type Bar struct {
	Label    string
	Value    float64
	Min, Max float64 // the error bar; equal to Value for none
}

// Series is one line of a line chart.
type Series struct {
	Label string
	X, Y  []float64
}

type svgWriter struct {
	b strings.Builder
}

func (w *svgWriter) f(format string, a ...any) { fmt.Fprintf(&w.b, format, a...) }

func (w *svgWriter) header(title string) {
	w.f(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	w.f(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", svgW, svgH, svgW, svgH)
	w.f(`<title>%s</title>`+"\n", html.EscapeString(title))
	w.f(`<rect x="0" y="0" width="%d" height="%d" fill="white"/>`+"\n", svgW, svgH)
	w.f(`<text x="%d" y="22" text-anchor="middle" font-size="15" font-weight="bold">%s</text>`+"\n", svgW/2, html.EscapeString(title))
}

func (w *svgWriter) end(out io.Writer) error {
	w.f("</svg>\n")
	_, err := io.WriteString(out, w.b.String())
	return err
}

// niceMax rounds v up to 1, 2 or 5 times a power of ten.
func niceMax(v float64) float64 {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// fmtNum writes an axis value compactly (12k, 1.5M).
func fmtNum(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e9:
		return trimZero(fmt.Sprintf("%.1f", v/1e9)) + "G"
	case a >= 1e6:
		return trimZero(fmt.Sprintf("%.1f", v/1e6)) + "M"
	case a >= 1e4:
		return trimZero(fmt.Sprintf("%.1f", v/1e3)) + "k"
	case a >= 10 || a == 0:
		return fmt.Sprintf("%.0f", v)
	default:
		return trimZero(fmt.Sprintf("%.2f", v))
	}
}

func trimZero(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

func (w *svgWriter) yAxis(ymax float64, ylabel string) {
	plotH := svgH - padT - padB
	for i := 0; i <= 5; i++ {
		v := ymax * float64(i) / 5
		y := svgH - padB - plotH*float64(i)/5
		w.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", padL, y, svgW-padR, y)
		w.f(`<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", padL-6, y+4, fmtNum(v))
	}
	w.f(`<text transform="translate(16,%.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", padT+plotH/2, html.EscapeString(ylabel))
	w.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", padL, padT, padL, svgH-padB)
	w.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", padL, svgH-padB, svgW-padR, svgH-padB)
}

// BarChart writes a bar chart: one bar per entry with its min-max error bar.
func BarChart(out io.Writer, title, ylabel string, bars []Bar) error {
	var w svgWriter
	w.header(title)
	ymax := 0.0
	for _, b := range bars {
		ymax = math.Max(ymax, math.Max(b.Value, b.Max))
	}
	ymax = niceMax(ymax)
	w.yAxis(ymax, ylabel)
	plotW, plotH := svgW-padL-padR, svgH-padT-padB
	n := max(1, len(bars))
	slot := plotW / float64(n)
	bw := slot * 0.6
	for i, b := range bars {
		x := padL + slot*float64(i) + (slot-bw)/2
		h := plotH * clamp01(b.Value/ymax)
		y := svgH - padB - h
		w.f(`<rect class="bar" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s: %s</title></rect>`+"\n",
			x, y, bw, h, palette[i%len(palette)], html.EscapeString(b.Label), fmtNum(b.Value))
		if b.Max > b.Min {
			cx := x + bw/2
			y1 := svgH - padB - plotH*clamp01(b.Min/ymax)
			y2 := svgH - padB - plotH*clamp01(b.Max/ymax)
			w.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", cx, y1, cx, y2)
			w.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", cx-5, y1, cx+5, y1)
			w.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", cx-5, y2, cx+5, y2)
		}
		w.f(`<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x+bw/2, y-6, fmtNum(b.Value))
		w.f(`<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x+bw/2, svgH-padB+18, html.EscapeString(b.Label))
	}
	return w.end(out)
}

func clamp01(v float64) float64 {
	if math.IsNaN(v) || v < 0 {
		return 0
	}
	return math.Min(v, 1)
}

// LineChart writes one polyline per series. With logX the x axis is
// logarithmic (for percentile curves, plotted against 1/(1-p)).
func LineChart(out io.Writer, title, xlabel, ylabel string, series []Series, logX bool, xticks map[float64]string) error {
	var w svgWriter
	w.header(title)
	xmin, xmax, ymax := math.Inf(1), math.Inf(-1), 0.0
	for _, s := range series {
		for i := range s.X {
			if i >= len(s.Y) {
				break
			}
			xmin, xmax = math.Min(xmin, s.X[i]), math.Max(xmax, s.X[i])
			ymax = math.Max(ymax, s.Y[i])
		}
	}
	if math.IsInf(xmin, 0) {
		xmin, xmax = 0, 1
	}
	if logX && xmin <= 0 {
		xmin = 1
	}
	if xmax <= xmin {
		xmax = xmin + 1
	}
	ymax = niceMax(ymax)
	w.yAxis(ymax, ylabel)
	plotW, plotH := svgW-padL-padR, svgH-padT-padB
	xpos := func(x float64) float64 {
		if logX {
			return padL + plotW*(math.Log10(math.Max(x, xmin))-math.Log10(xmin))/(math.Log10(xmax)-math.Log10(xmin))
		}
		return padL + plotW*(x-xmin)/(xmax-xmin)
	}
	ypos := func(y float64) float64 { return svgH - padB - plotH*clamp01(y/ymax) }
	if len(xticks) > 0 {
		for x, l := range xticks {
			if x < xmin || x > xmax {
				continue
			}
			w.f(`<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", xpos(x), svgH-padB+18, html.EscapeString(l))
		}
	} else {
		for i := 0; i <= 5; i++ {
			x := xmin + (xmax-xmin)*float64(i)/5
			w.f(`<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", xpos(x), svgH-padB+18, fmtNum(x))
		}
	}
	w.f(`<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", padL+plotW/2, svgH-16, html.EscapeString(xlabel))
	for i, s := range series {
		var pts []string
		for j := range s.X {
			if j >= len(s.Y) || math.IsNaN(s.Y[j]) {
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", xpos(s.X[j]), ypos(s.Y[j])))
		}
		c := palette[i%len(palette)]
		w.f(`<polyline class="series" fill="none" stroke="%s" stroke-width="2" points="%s"><title>%s</title></polyline>`+"\n",
			c, strings.Join(pts, " "), html.EscapeString(s.Label))
		ly := padT + 10 + 20*float64(i)
		w.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="3"/>`+"\n", svgW-padR+12, ly, svgW-padR+32, ly, c)
		w.f(`<text x="%.1f" y="%.1f">%s</text>`+"\n", svgW-padR+38, ly+4, html.EscapeString(s.Label))
	}
	return w.end(out)
}
