package data

import (
	"fmt"
	"strings"
)

// Error is the error type of this package for anything that can be traced
// to a place in an input file. Its message is a single line of the form
//
//	FILE[:LINE]: [column "NAME" (INDEX): ]MESSAGE
//
// where LINE counts the header as line 1 and INDEX is the 1-based position
// of the column in that file. Callers that want the parts use errors.As.
type Error struct {
	// File is the file name as given to the reader (OpenCSV and so on).
	File string
	// Line is the 1-based line number, or 0 when the error is about the
	// whole file.
	Line int
	// Column is the column name, or "" when the error is about a whole row
	// or file.
	Column string
	// Index is the 1-based position of Column in the file, or 0.
	Index int
	// Err is the underlying reason.
	Err error
}

// Error formats the error as one line.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Column != "" || e.Index > 0 {
		fmt.Fprintf(&b, "column %q", e.Column)
		if e.Index > 0 {
			fmt.Fprintf(&b, " (%d)", e.Index)
		}
		b.WriteString(": ")
	}
	msg := "unknown error"
	if e.Err != nil {
		msg = e.Err.Error()
	}
	// Keep the promise of a single line even when a wrapped error has
	// several.
	b.WriteString(strings.ReplaceAll(msg, "\n", " "))
	return b.String()
}

// Unwrap returns the underlying reason.
func (e *Error) Unwrap() error { return e.Err }

// errorf builds an *Error for a place in a file; index is 0-based here (or
// -1 for "no column") and reported 1-based.
func errorf(file string, line int, column string, index int, format string, args ...any) *Error {
	return &Error{File: file, Line: line, Column: column, Index: index + 1, Err: fmt.Errorf(format, args...)}
}

// fileErrorf builds an *Error about a whole file or line, without a column.
func fileErrorf(file string, line int, format string, args ...any) *Error {
	return &Error{File: file, Line: line, Err: fmt.Errorf(format, args...)}
}
