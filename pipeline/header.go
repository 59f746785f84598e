package pipeline

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"strings"

	"github.com/mtl-gpu/mtl-gpu/data"
)

// headerWriter passes a predictions CSV through, rewriting its header: the
// probability columns of a prediction renamed TASK:pred keep the names
// TASK:p(CLASS) they have without --keep, so that scripts reading them do
// not depend on which columns are kept.
type headerWriter struct {
	w            io.Writer
	from, to     []byte // the header as written, and as it should read
	seen         []byte
	headerPassed bool
}

func newHeaderWriter(w io.Writer, keep []string, preds []data.Prediction, renamed map[string]string) (*headerWriter, error) {
	from, to := append([]string{}, keep...), append([]string{}, keep...)
	for _, p := range preds {
		from, to = append(from, p.Name), append(to, p.Name)
		base := p.Name
		if orig, ok := renamed[p.Name]; ok {
			base = orig
		}
		for _, c := range p.Classes {
			from, to = append(from, p.Name+":p("+c+")"), append(to, base+":p("+c+")")
		}
	}
	seen := map[string]bool{}
	for _, h := range to {
		if seen[h] {
			return nil, fmt.Errorf("predictions: output column %q would appear twice", h)
		}
		seen[h] = true
	}
	return &headerWriter{w: w, from: csvLine(from), to: csvLine(to)}, nil
}

// csvLine encodes one CSV record as encoding/csv writes it.
func csvLine(fields []string) []byte {
	var b bytes.Buffer
	cw := csv.NewWriter(&b)
	cw.Write(fields)
	cw.Flush()
	return b.Bytes()
}

func (h *headerWriter) Write(p []byte) (int, error) {
	if h.headerPassed {
		return h.w.Write(p)
	}
	n := len(p)
	need := len(h.from) - len(h.seen)
	if len(p) < need {
		h.seen = append(h.seen, p...)
		return n, nil
	}
	h.seen = append(h.seen, p[:need]...)
	if !bytes.Equal(h.seen, h.from) {
		return 0, fmt.Errorf("predictions: unexpected header %q", strings.TrimSpace(string(h.seen)))
	}
	h.headerPassed = true
	if _, err := h.w.Write(h.to); err != nil {
		return 0, err
	}
	if _, err := h.w.Write(p[need:]); err != nil {
		return 0, err
	}
	return n, nil
}
