package serve

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"

	"github.com/mtl-gpu/mtl-gpu/pipeline"
)

// predict answers POST /v1/predict: a JSON array of rows, each an object
// keyed by column name, gets {"predictions": [...]}, one object per row
// in request order with the columns predict writes.
func (s *Server) predict(w http.ResponseWriter, r *http.Request) int {
	l := s.model.Load()
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return writeError(w, http.StatusBadRequest, fmt.Errorf("the request body is over the limit of %d bytes", mbe.Limit))
		}
		return writeError(w, http.StatusBadRequest, fmt.Errorf("reading the request body: %v", err))
	}
	rows, err := parseRows(raw, l)
	if err != nil {
		return writeError(w, http.StatusBadRequest, err)
	}
	if len(rows) == 0 {
		return writeJSON(w, http.StatusOK, map[string][]any{"predictions": {}})
	}
	res := s.submit(&job{model: l, rows: rows})
	if res.err != nil {
		var re *pipeline.RowError
		switch {
		case errors.As(res.err, &re):
			return writeError(w, http.StatusBadRequest, res.err)
		case errors.Is(res.err, errClosed):
			return writeError(w, http.StatusServiceUnavailable, res.err)
		}
		s.log.Error("prediction failed", "err", res.err)
		return writeError(w, http.StatusInternalServerError, res.err)
	}
	return writePredictions(w, res)
}

// parseRows reads the rows of a request into cells in the order of the
// model's inputs, checking each value's type: a number or null for a
// numeric column (null is missing, allowed when the model imputes), a
// string or a number for a categorical column or the group column (null
// is an empty category; the group must be given). Errors name the row
// (0-based) and the column.
func parseRows(raw []byte, l *loaded) ([][]string, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return nil, fmt.Errorf("invalid JSON at byte %d: %v", se.Offset, se)
		case errors.As(err, &te):
			return nil, errors.New("want a JSON array of rows, each an object keyed by column name")
		}
		return nil, fmt.Errorf("invalid JSON: %v", err)
	}
	if items == nil {
		return nil, errors.New("want a JSON array of rows, each an object keyed by column name, not null")
	}
	rows := make([][]string, len(items))
	for i, item := range items {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(item, &obj); err != nil || obj == nil {
			return nil, &pipeline.RowError{Row: i, Err: fmt.Errorf("want an object keyed by column name, got %s", kindOf(item))}
		}
		cells := make([]string, len(l.header))
		for c, name := range l.header {
			v, ok := obj[name]
			if !ok {
				return nil, &pipeline.RowError{Row: i, Column: name, Err: errors.New("missing")}
			}
			cell, err := cellText(v, l.kinds[c], l.desc.Inputs.Impute == "mean")
			if err != nil {
				return nil, &pipeline.RowError{Row: i, Column: name, Err: err}
			}
			cells[c] = cell
		}
		rows[i] = cells
	}
	return rows, nil
}

// cellText turns one JSON value into the cell predict would read.
func cellText(v json.RawMessage, kind string, impute bool) (string, error) {
	numeric := kind == "numeric"
	switch k := kindOf(v); k {
	case "null":
		switch {
		case kind == "group":
			return "", errors.New("the group is missing")
		case numeric && !impute:
			return "", errors.New("missing value (the model does not impute missing numbers)")
		}
		return "", nil
	case "a number":
		if numeric {
			if x, err := strconv.ParseFloat(string(v), 64); err != nil || math.IsInf(x, 0) {
				return "", fmt.Errorf("%s is not a finite number", v)
			}
		}
		return string(v), nil
	case "a string":
		if numeric {
			return "", errors.New("want a number or null, got a string")
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", err
		}
		return s, nil
	default:
		if numeric {
			return "", fmt.Errorf("want a number or null, got %s", k)
		}
		return "", fmt.Errorf("want a string, got %s", k)
	}
}

// kindOf names the type of a JSON value.
func kindOf(v json.RawMessage) string {
	v = bytes.TrimLeft(v, " \t\r\n")
	if len(v) == 0 {
		return "nothing"
	}
	switch c := v[0]; {
	case c == 'n':
		return "null"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == '"':
		return "a string"
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	}
	return "a number"
}

// writePredictions writes {"predictions": [...]}: one object per row with
// the columns in predict's order, probabilities and values as numbers
// (null where not finite) and class labels as strings.
func writePredictions(w http.ResponseWriter, res result) int {
	keys := make([][]byte, len(res.columns))
	for j, c := range res.columns {
		keys[j], _ = json.Marshal(c)
	}
	var buf bytes.Buffer
	buf.WriteString(`{"predictions":[`)
	for i, row := range res.rows {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteByte('{')
		for j, cell := range row {
			if j > 0 {
				buf.WriteByte(',')
			}
			buf.Write(keys[j])
			buf.WriteByte(':')
			if !res.numeric[j] {
				b, _ := json.Marshal(cell)
				buf.Write(b)
			} else if x, err := strconv.ParseFloat(cell, 64); err == nil && !math.IsInf(x, 0) && !math.IsNaN(x) {
				buf.WriteString(cell)
			} else {
				buf.WriteString("null")
			}
		}
		buf.WriteByte('}')
	}
	buf.WriteString("]}\n")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(buf.Bytes())
	return http.StatusOK
}
