package main

import (
	"bytes"
	"strings"
	"testing"
)

const stream = `{"Action":"run","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Test":"TestA","Output":"    a_test.go:9: no device here\n"}
{"Action":"output","Package":"p","Test":"TestA","Output":"--- SKIP: TestA (0.00s)\n"}
{"Action":"skip","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Test":"TestB","Output":"    b_test.go:3: got 2, want 3\n"}
{"Action":"fail","Package":"p","Test":"TestB"}
{"Action":"output","Package":"p","Test":"TestC","Output":"noise\n"}
{"Action":"pass","Package":"p","Test":"TestC"}
{"Action":"fail","Package":"p","Elapsed":1.5}
{"Action":"pass","Package":"q","Elapsed":0.25}
`

func TestSummarise(t *testing.T) {
	var out bytes.Buffer
	skips, failed, err := summarise(strings.NewReader(stream), &out)
	if err != nil {
		t.Fatal(err)
	}
	if !failed {
		t.Error("a failed test was not reported as a failure")
	}
	if len(skips) != 1 || skips[0].Test != "p TestA" || skips[0].Reason != "a_test.go:9: no device here" {
		t.Errorf("skips %+v", skips)
	}
	got := out.String()
	if !strings.Contains(got, "got 2, want 3") || strings.Contains(got, "noise") || !strings.Contains(got, "ok  \tq\t0.250s") {
		t.Errorf("output:\n%s", got)
	}
}
