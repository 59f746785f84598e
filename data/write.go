package data

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
)

// WriteCSV writes the rows of src to w as CSV with a header line: each
// cell as its text (see Column.Text), numbers in their shortest form.
func WriteCSV(ctx context.Context, w io.Writer, src Source) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(src.Columns()); err != nil {
		return err
	}
	rec := make([]string, len(src.Columns()))
	err := src.Scan(ctx, Wants(len(rec), Auto), func(b *Block) error {
		for i := range b.N {
			for c := range rec {
				rec[c] = b.Cols[c].Text(i)
			}
			if err := cw.Write(rec); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("writing CSV: %w", err)
	}
	return nil
}
