package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// row is one line of the table: what was measured with podint, the same
// path without it (or the empty program), and the figure that counts.
type row struct {
	name    string
	with    string
	without string
	figure  string
	goal    string
	verdict string // "met", "MISSED", or "" for a figure without a goal
}

// section groups the rows of one stage under a heading that says how they
// were measured.
type section struct {
	title string
	rows  []row
	notes []string // caveats and failures, printed under the table
}

// verdicts against the goals of issue 8.
func atMost(v, limit float64) string {
	if v <= limit {
		return "met"
	}
	return "MISSED"
}

func atLeast(v, limit float64) string {
	if v >= limit {
		return "met"
	}
	return "MISSED"
}

// printTable writes the sections as one aligned table, then their notes.
func printTable(w io.Writer, header string, sections []section) {
	fmt.Fprintln(w, header)
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "measurement\twith podint\twithout\tfigure\tgoal\t")
	for _, s := range sections {
		fmt.Fprintf(tw, "%s\t\t\t\t\t\n", s.title)
		for _, r := range s.rows {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", r.name, r.with, r.without, r.figure, r.goal, r.verdict)
		}
	}
	tw.Flush()
	n := 0
	for _, s := range sections {
		for _, note := range s.notes {
			if n == 0 {
				fmt.Fprintln(w)
			}
			n++
			fmt.Fprintf(w, "%s: %s\n", strings.SplitN(s.title, " (", 2)[0], note)
		}
	}
}

// Formatting of figures.
func ns(v float64) string { return fmt.Sprintf("%.0f ns", v) }

func nsRange(s summary) string {
	return fmt.Sprintf("%.0f [%.0f–%.0f] ns", s.median, s.min, s.max)
}

func pct(v float64) string { return fmt.Sprintf("%.1f%%", 100*v) }

func rate(v float64) string {
	switch {
	case v >= 1e9:
		return fmt.Sprintf("%.2fG", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.0fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

func mib(bytes float64) string { return fmt.Sprintf("%.1f MiB", bytes/(1<<20)) }

func ms(v float64) string { return fmt.Sprintf("%.1f ms", v) }
