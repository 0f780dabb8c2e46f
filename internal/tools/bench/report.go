// Package bench runs the benchmark scenarios of counter-tools bench. Each scenario
// is self-contained: it starts its own embedded broker in a temporary
// directory, its own workers or API (in-process, or as child processes of
// the counter binary where a process's memory is measured), measures a
// baseline in the same run, repeats everything Runs times and reports
// medians.
package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// Figure is one measured quantity: the median of its runs, and when it has
// a baseline, the baseline's name and the ratio of the medians.
type Figure struct {
	Name   string    `json:"name"`
	Unit   string    `json:"unit"`
	Median float64   `json:"median"`
	Runs   []float64 `json:"runs"`
	// Baseline names the figure this one is compared with; empty for
	// baselines themselves and for figures without one.
	Baseline string `json:"baseline,omitempty"`
	// Ratio compares the figure with its baseline measured in the same run:
	// the median over the runs of value/baseline.
	Ratio float64 `json:"ratio,omitempty"`
	// IsBaseline marks a baseline figure.
	IsBaseline bool `json:"is_baseline,omitempty"`
	// Target is the goal to compare with, as text ("≥ 500000").
	Target string `json:"target,omitempty"`
}

// Report is the outcome of one scenario.
type Report struct {
	Scenario string            `json:"scenario"`
	Machine  Machine           `json:"machine"`
	Params   map[string]string `json:"params"`
	Figures  []Figure          `json:"figures"`
	Notes    []string          `json:"notes,omitempty"`
}

// series collects the per-run values of figures in order of first use.
type series struct {
	order  []string
	values map[string][]float64
	units  map[string]string
}

func newSeries() *series {
	return &series{values: map[string][]float64{}, units: map[string]string{}}
}

// add records one run's value of figure name.
func (s *series) add(name, unit string, v float64) {
	if _, ok := s.values[name]; !ok {
		s.order = append(s.order, name)
		s.units[name] = unit
	}
	s.values[name] = append(s.values[name], v)
}

// figure returns the named figure with its median; baseline, when not
// empty, names the figure it is compared with, run by run.
func (s *series) figure(name, baseline, target string) Figure {
	f := Figure{Name: name, Unit: s.units[name], Runs: s.values[name], Median: median(s.values[name]), Target: target}
	if base := s.values[baseline]; baseline != "" && len(base) == len(f.Runs) {
		var ratios []float64
		for i, v := range f.Runs {
			if base[i] != 0 {
				ratios = append(ratios, v/base[i])
			}
		}
		if len(ratios) > 0 {
			f.Baseline, f.Ratio = baseline, median(ratios)
		}
	}
	return f
}

// baseline returns the named figure marked as a baseline.
func (s *series) baseline(name string) Figure {
	f := s.figure(name, "", "")
	f.IsBaseline = true
	return f
}

// median returns the median of vs (the mean of the middle two for an even
// count), 0 for none.
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Write prints the report: as indented JSON, or as a table.
func (r *Report) Write(w io.Writer, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	fmt.Fprintf(w, "scenario %s — %s\n", r.Scenario, r.Machine)
	keys := make([]string, 0, len(r.Params))
	for k := range r.Params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var params []string
	for _, k := range keys {
		params = append(params, k+"="+r.Params[k])
	}
	fmt.Fprintf(w, "parameters: %s\n\n", strings.Join(params, " "))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tmedian\tunit\truns\tvs baseline\ttarget\t")
	for _, f := range r.Figures {
		runs := make([]string, len(f.Runs))
		for i, v := range f.Runs {
			runs[i] = human(v)
		}
		cmp := ""
		switch {
		case f.IsBaseline:
			cmp = "(baseline)"
		case f.Baseline != "":
			cmp = fmt.Sprintf("%.0f%% of %s", 100*f.Ratio, f.Baseline)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", f.Name, human(f.Median), f.Unit, strings.Join(runs, " "), cmp, f.Target)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	return nil
}

// human formats v with three significant digits and a K/M/G suffix.
func human(v float64) string {
	abs := v
	if abs < 0 {
		abs = -abs
	}
	switch { // thresholds just below 1000 of a unit: 999,700 prints as 1M
	case abs >= 999.5e6:
		return fmt.Sprintf("%.3gG", v/1e9)
	case abs >= 999.5e3:
		return fmt.Sprintf("%.3gM", v/1e6)
	case abs >= 1e4:
		return fmt.Sprintf("%.3gK", v/1e3)
	case abs >= 100 || v == float64(int64(v)):
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.3g", v)
}
