package pipeline

import (
	"bytes"
	_ "embed"

	"github.com/mtl-gpu/mtl-gpu/data"
)

// The School data set (ILEA exam scores, 139 schools), as redistributed by
// the MALSAR toolbox; see README.md for its source and terms.
//
//go:embed demo/school.csv.gz
var schoolCSV []byte

// The built-in demonstration: the exam score of each school as a family of
// tasks, with a quarter of each school's students held out for testing.
const (
	// DemoName names the built-in data in messages.
	DemoName = "school.csv (built-in School data)"
	// DemoOut is the model file the demonstration writes.
	DemoOut     = "school.mtl"
	demoTarget  = "exam_score:regression"
	demoGroup   = "school_id"
	demoHoldout = 0.25
)

// demoData returns the built-in School data as a source, read afresh
// from the embedded file for every scan.
func demoData() (data.Source, error) {
	return newReopenSource(func() (data.Source, error) {
		return data.NewCSVReader(bytes.NewReader(schoolCSV), DemoName, data.CSVOptions{})
	})
}
