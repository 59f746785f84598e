package data

import (
	"bytes"
	"encoding/csv"
	"fmt"
)

// csvParser turns chunks of whole rows into blocks. Each parsing
// goroutine has its own.
type csvParser struct {
	name   string
	format csvFormat
	want   []ColumnWant
	ncols  int
	last   int // last column that is not skipped, or -1
	maxRow int

	dicts []map[string]int32 // per column: text → code in this block

	// The record of a row with quotes, as encoding/csv builds it.
	rec     []byte
	ends    []int
	fields  [][]byte
	lineBuf []byte
}

func (p *csvParser) init(name string, format csvFormat, want []ColumnWant, maxRow int) {
	p.name, p.format, p.want, p.maxRow = name, format, want, maxRow
	p.ncols = len(want)
	p.last = -1
	p.dicts = make([]map[string]int32, len(want))
	for c, w := range want {
		if w != Skip {
			p.last = c
			p.dicts[c] = make(map[string]int32)
		}
	}
}

// parse fills blk with the rows of text, which holds whole rows and starts
// on line firstLine.
func (p *csvParser) parse(text []byte, firstLine int64, blk *Block) error {
	est := bytes.Count(text, []byte{'\n'}) + 1
	p.reset(blk, est)
	line := firstLine
	pos := 0
	delim := p.format.delim
	for pos < len(text) {
		// Empty lines (a lone newline, CR LF, or a CR at the very end) are
		// skipped, as encoding/csv does.
		switch c := text[pos]; {
		case c == '\n':
			pos++
			line++
			continue
		case c == '\r' && pos+1 == len(text):
			pos++
			continue
		case c == '\r' && text[pos+1] == '\n':
			pos += 2
			line++
			continue
		}
		rowStart, rowLine := pos, line
		var l []byte
		next := len(text)
		if e := bytes.IndexByte(text[pos:], '\n'); e >= 0 {
			l = text[pos : pos+e]
			next = pos + e + 1
		} else {
			l = text[pos:]
		}
		if n := len(l); n > 0 && l[n-1] == '\r' {
			l = l[:n-1]
		}
		if bytes.IndexByte(l, '"') < 0 {
			// The common case: no quotes, one line.
			nf := bytes.Count(l, []byte{delim}) + 1
			if nf != p.ncols {
				if nf == 1 && p.ncols > 1 && len(bytes.TrimSpace(l)) == 0 {
					pos, line = next, line+1
					continue // a line of white space only
				}
				return fileErrorf(p.name, int(rowLine), "row has %d fields, the header has %d", nf, p.ncols)
			}
			if next-rowStart > p.maxRow {
				return rowTooLong(p.name, rowLine, p.maxRow)
			}
			for c := 0; c <= p.last; c++ {
				f := l
				if c < p.ncols-1 {
					j := bytes.IndexByte(l, delim)
					f = l[:j]
					l = l[j+1:]
				}
				p.cell(blk, c, f)
			}
			pos, line = next, line+1
		} else {
			fields, end, err := p.record(text, pos, rowLine)
			if err != nil {
				return err
			}
			lines := int64(bytes.Count(text[pos:end], []byte{'\n'}))
			pos, line = end, line+lines
			if len(fields) != p.ncols {
				if len(fields) == 1 && p.ncols > 1 && len(bytes.TrimSpace(fields[0])) == 0 {
					continue
				}
				return fileErrorf(p.name, int(rowLine), "row has %d fields, the header has %d", len(fields), p.ncols)
			}
			if end-rowStart > p.maxRow {
				return rowTooLong(p.name, rowLine, p.maxRow)
			}
			for c := 0; c <= p.last; c++ {
				p.cell(blk, c, fields[c])
			}
		}
		p.addRow(blk, rowLine)
	}
	p.finish(blk)
	return nil
}

// reset prepares a (recycled) block for up to est rows.
func (p *csvParser) reset(blk *Block, est int) {
	blk.Row, blk.N, blk.FirstLine, blk.Lines = 0, 0, 0, blk.Lines[:0]
	if cap(blk.Cols) < p.ncols {
		blk.Cols = make([]Column, p.ncols)
		blk.spare = make([][]int32, p.ncols)
	}
	blk.Cols = blk.Cols[:p.ncols]
	blk.spare = blk.spare[:p.ncols]
	for c := range blk.Cols {
		col := &blk.Cols[c]
		if col.Codes != nil {
			blk.spare[c] = col.Codes
		}
		col.Codes = nil
		clear(col.Dict)
		col.Dict = col.Dict[:0]
		switch p.want[c] {
		case Skip:
			col.Num, col.Dict = nil, nil
		case Auto:
			if cap(col.Num) < est {
				col.Num = make([]float64, 0, est)
			}
			col.Num = col.Num[:0]
		case Text:
			col.Num = nil
			col.Codes = p.codes(blk, c, est)
		}
		if p.dicts[c] != nil {
			clear(p.dicts[c])
		}
	}
}

// codes returns an empty code slice for column c with room for est.
func (p *csvParser) codes(blk *Block, c, est int) []int32 {
	s := blk.spare[c]
	blk.spare[c] = nil
	if cap(s) < est {
		return make([]int32, 0, est)
	}
	return s[:0]
}

// addRow counts a row whose cells have been added, starting on line.
func (p *csvParser) addRow(blk *Block, line int64) {
	if blk.N == 0 {
		blk.FirstLine = line
	}
	switch {
	case len(blk.Lines) > 0:
		blk.Lines = append(blk.Lines, line)
	case line != blk.FirstLine+int64(blk.N):
		for i := range blk.N {
			blk.Lines = append(blk.Lines, blk.FirstLine+int64(i))
		}
		blk.Lines = append(blk.Lines, line)
	}
	blk.N++
}

// finish drops what a block does not use.
func (p *csvParser) finish(blk *Block) {
	if len(blk.Lines) == 0 {
		blk.Lines = blk.Lines[:0:0]
		blk.Lines = nil
	}
	for c := range blk.Cols {
		col := &blk.Cols[c]
		if p.want[c] == Skip {
			continue
		}
		if len(col.Dict) == 0 && p.want[c] == Auto {
			col.Dict = nil
		}
	}
}

// cell adds one cell to column c of the block being built.
func (p *csvParser) cell(blk *Block, c int, f []byte) {
	w := p.want[c]
	if w == Skip {
		return
	}
	f = trimCell(f)
	col := &blk.Cols[c]
	if w == Text {
		col.Codes = append(col.Codes, p.code(col, c, f))
		return
	}
	kind, v := parseCellBytes(f)
	if kind == cellNumber {
		col.Num = append(col.Num, v)
		if col.Codes != nil {
			col.Codes = append(col.Codes, -1)
		}
		return
	}
	if col.Codes == nil {
		col.Codes = p.codes(blk, c, cap(col.Num))
		for range col.Num {
			col.Codes = append(col.Codes, -1)
		}
	}
	col.Num = append(col.Num, cellNum(kind, v))
	col.Codes = append(col.Codes, p.code(col, c, f))
}

// code returns the code of text f in column c, adding it to the block's
// dictionary when new.
func (p *csvParser) code(col *Column, c int, f []byte) int32 {
	m := p.dicts[c]
	if k, ok := m[string(f)]; ok {
		return k
	}
	s := string(f)
	k := int32(len(col.Dict))
	m[s] = k
	col.Dict = append(col.Dict, s)
	return k
}

// trimCell trims white space as strings.TrimSpace does, quickly when the
// cell starts and ends with a printable ASCII byte.
func trimCell(b []byte) []byte {
	if n := len(b); n == 0 || (b[0] > ' ' && b[0] < 0x80 && b[n-1] > ' ' && b[n-1] < 0x80) {
		return b
	}
	return bytes.TrimSpace(b)
}

// record parses the row that starts at text[pos] (not an empty line)
// exactly as encoding/csv.Reader.readRecord does, with its errors; line is
// the row's first line. It returns the fields, valid until the next call,
// and where the next row starts.
func (p *csvParser) record(text []byte, pos int, line int64) ([][]byte, int, error) {
	delim := p.format.delim
	lazy := p.format.lazy
	numLine := line - 1
	readLine := func() []byte {
		if pos >= len(text) {
			return nil
		}
		var l []byte
		if i := bytes.IndexByte(text[pos:], '\n'); i >= 0 {
			l = text[pos : pos+i+1]
			pos += i + 1
		} else {
			l = text[pos:]
			pos = len(text)
			if l[len(l)-1] == '\r' {
				l = l[:len(l)-1] // dropped before the end, as encoding/csv does
			}
		}
		numLine++
		if n := len(l); n >= 2 && l[n-2] == '\r' && l[n-1] == '\n' {
			p.lineBuf = append(append(p.lineBuf[:0], l[:n-2]...), '\n')
			l = p.lineBuf
		}
		return l
	}
	lengthNL := func(b []byte) int {
		if len(b) > 0 && b[len(b)-1] == '\n' {
			return 1
		}
		return 0
	}

	l := readLine()
	recLine := numLine
	posLine, col := numLine, 1
	p.rec, p.ends = p.rec[:0], p.ends[:0]
	var err error
parseField:
	for {
		if len(l) == 0 || l[0] != '"' {
			i := bytes.IndexByte(l, delim)
			field := l
			if i >= 0 {
				field = field[:i]
			} else {
				field = field[:len(field)-lengthNL(field)]
			}
			if !lazy {
				if j := bytes.IndexByte(field, '"'); j >= 0 {
					err = p.parseError(recLine, numLine, col+j, csv.ErrBareQuote)
					break parseField
				}
			}
			p.rec = append(p.rec, field...)
			p.ends = append(p.ends, len(p.rec))
			if i >= 0 {
				l = l[i+1:]
				col += i + 1
				continue parseField
			}
			break parseField
		}
		// A quoted field.
		l = l[1:]
		col++
		for {
			i := bytes.IndexByte(l, '"')
			switch {
			case i >= 0:
				p.rec = append(p.rec, l[:i]...)
				l = l[i+1:]
				col += i + 1
				switch {
				case len(l) > 0 && l[0] == '"':
					p.rec = append(p.rec, '"')
					l = l[1:]
					col++
				case len(l) > 0 && l[0] == delim:
					l = l[1:]
					col++
					p.ends = append(p.ends, len(p.rec))
					continue parseField
				case lengthNL(l) == len(l):
					p.ends = append(p.ends, len(p.rec))
					break parseField
				case lazy:
					p.rec = append(p.rec, '"')
				default:
					err = p.parseError(recLine, numLine, col-1, csv.ErrQuote)
					break parseField
				}
			case len(l) > 0:
				p.rec = append(p.rec, l...)
				col += len(l)
				l = readLine()
				if len(l) > 0 {
					posLine++
					col = 1
				}
			default:
				if !lazy {
					err = p.parseError(recLine, posLine, col, csv.ErrQuote)
					break parseField
				}
				p.ends = append(p.ends, len(p.rec))
				break parseField
			}
		}
	}
	if err != nil {
		return nil, pos, err
	}
	p.fields = p.fields[:0]
	prev := 0
	for _, e := range p.ends {
		p.fields = append(p.fields, p.rec[prev:e])
		prev = e
	}
	return p.fields, pos, nil
}

// parseError is the error of a malformed row, worded as Read words
// encoding/csv's errors.
func (p *csvParser) parseError(start, line int64, col int, reason error) error {
	err := fmt.Errorf("malformed row (byte %d of the line): %w", col, reason)
	if start != line {
		err = fmt.Errorf("%w (the row starts on line %d)", err, start)
	}
	return &Error{File: p.name, Line: int(line), Err: err}
}
