// Command testsummary reads the JSON stream of `go test -json` on its
// standard input and prints what `go test` prints (a line per package, the
// output of failed tests and of failed builds), then a count of the tests
// that were skipped, each with its reason, so that a test that quietly
// stops running does not go unseen. With -append FILE it also appends the
// skips to FILE, and with -report it reads such files instead of standard
// input and prints their combined count. It exits with status 1 when a
// test or a build failed.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// event is one line of `go test -json` (see cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Elapsed float64
	Output  string
}

// skip is a skipped test and why.
type skip struct {
	Test, Reason string
}

func main() {
	appendTo := flag.String("append", "", "also append the skipped tests to this file")
	report := flag.Bool("report", false, "print the combined skips of the files named as arguments")
	flag.Parse()
	if *report {
		os.Exit(printReport(flag.Args()))
	}
	skips, failed, err := summarise(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		os.Exit(1)
	}
	if *appendTo != "" {
		if err := appendSkips(*appendTo, skips); err != nil {
			fmt.Fprintln(os.Stderr, "testsummary:", err)
			os.Exit(1)
		}
	}
	printSkips(os.Stdout, skips)
	if failed {
		os.Exit(1)
	}
}

// summarise copies the results of r to w and returns the skipped tests and
// whether anything failed.
func summarise(r io.Reader, w io.Writer) ([]skip, bool, error) {
	output := map[string][]string{} // package/test → its output lines
	var skips []skip
	failed := false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			fmt.Fprintln(w, string(line)) // build errors and other text
			continue
		}
		key := e.Package + " " + e.Test
		switch e.Action {
		case "output", "build-output":
			output[key] = append(output[key], e.Output)
		case "skip":
			if e.Test != "" {
				skips = append(skips, skip{Test: e.Package + " " + e.Test, Reason: reason(output[key])})
			} else if len(output[key]) > 0 {
				fmt.Fprint(w, strings.Join(output[key], ""))
			}
		case "fail":
			failed = true
			fmt.Fprint(w, strings.Join(output[key], ""))
		case "pass":
			if e.Test == "" {
				fmt.Fprintf(w, "ok  \t%s\t%.3fs\n", e.Package, e.Elapsed)
			}
		}
		if e.Action == "pass" || e.Action == "fail" || e.Action == "skip" {
			delete(output, key)
		}
	}
	return skips, failed, sc.Err()
}

// reason is the message a test logged before it was skipped.
func reason(lines []string) string {
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l == "" || strings.HasPrefix(l, "--- SKIP") || strings.HasPrefix(l, "=== ") {
			continue
		}
		return l
	}
	return "(no reason given)"
}

func printSkips(w io.Writer, skips []skip) {
	fmt.Fprintf(w, "%d tests skipped\n", len(skips))
	for _, s := range skips {
		fmt.Fprintf(w, "  %s: %s\n", s.Test, s.Reason)
	}
}

func appendSkips(path string, skips []skip) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	for _, s := range skips {
		if err := enc.Encode(s); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// printReport prints the combined skips of files written by -append.
func printReport(paths []string) int {
	var skips []skip
	for _, p := range paths {
		f, err := os.Open(p)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "testsummary:", err)
			return 1
		}
		dec := json.NewDecoder(f)
		for {
			var s skip
			if err := dec.Decode(&s); err == io.EOF {
				break
			} else if err != nil {
				fmt.Fprintln(os.Stderr, "testsummary:", p, err)
				return 1
			}
			skips = append(skips, s)
		}
		f.Close()
	}
	fmt.Println("all test runs:")
	printSkips(os.Stdout, skips)
	return 0
}
