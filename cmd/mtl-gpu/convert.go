package main

import (
	"encoding/json"
	"fmt"

	"github.com/mtl-gpu/mtl-gpu/pipeline"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func (a *app) convertCommand() *cobra.Command {
	var in inputFlags
	var o pipeline.ConvertOptions
	cmd := &cobra.Command{
		Use:   "convert IN OUT",
		Short: "Convert a data file: CSV or TSV (plain or gzip) to Parquet, Parquet to CSV",
		Long: `convert reads IN (CSV or TSV with a header, plain or gzip; or Parquet, with any
--features joined) a block at a time and writes OUT in the format its name
asks for: .parquet (or .pq) for Parquet, .csv or .csv.gz for CSV. Parquet
columns are typed: INT64 where every value is an integer, DOUBLE where every
value is a number, dictionary-encoded strings otherwise, missing values as
nulls; the file is Snappy-compressed (--zstd for Zstandard) in row groups of
--row-group-rows. OUT is written atomically and is never IN.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			in.data = args[0]
			di, err := in.input()
			if err != nil {
				return err
			}
			rows, err := pipeline.Convert(cmd.Context(), di, args[1], o)
			if err != nil {
				return err
			}
			a.log.Info("converted", "rows", rows, "file", args[1])
			return nil
		},
	}
	fl := cmd.Flags()
	in.registerReading(fl)
	fl.IntVar(&o.RowGroupRows, "row-group-rows", 1<<17, "rows per Parquet row group")
	fl.BoolVar(&o.Zstd, "zstd", false, "compress Parquet with Zstandard (smaller, slower) instead of Snappy")
	return cmd
}

func (a *app) inspectCommand() *cobra.Command {
	var in inputFlags
	o := pipeline.Options{}
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "inspect FILE [--task SPEC ...] [--json]",
		Short: "Summarise a data file's columns without loading it",
		Long: `inspect reads a data file (CSV or TSV, plain or gzip, or Parquet, with any
--features joined) in one pass, without holding it, and prints its rows and,
per column, the type the file stores it as, the kind train would give it
(numeric, categorical one-hot, embedded, label for a --task target, group,
ignored), its missing values, its distinct values (exact up to 10,000,
estimated above: ~N) and the range and mean of its numbers. The options that
decide the kinds are train's; none is needed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in.data = args[0]
			di, err := in.input()
			if err != nil {
				return err
			}
			ins, err := pipeline.Inspect(cmd.Context(), di, o)
			if err != nil {
				return err
			}
			if !asJSON {
				_, err = fmt.Fprint(a.stdout, ins.Text())
				return err
			}
			out, err := json.Marshal(ins)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(a.stdout, "%s\n", out)
			return err
		},
	}
	fl := cmd.Flags()
	in.registerReading(fl)
	registerColumns(fl, &o)
	fl.BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

// registerColumns adds the flags that say what the columns of a data file
// are, as train reads them.
func registerColumns(fl *pflag.FlagSet, o *pipeline.Options) {
	fl.StringArrayVar(&o.Tasks, "task", nil, "target as PATTERN:TYPE[:WEIGHT] (repeatable)")
	fl.StringVar(&o.GroupColumn, "group-column", "", "column that splits every target into a family with one head per group")
	fl.StringSliceVar(&o.Ignore, "ignore", nil, "columns (or globs) that are neither features nor targets")
	fl.StringSliceVar(&o.Categorical, "categorical", nil, "columns (or globs) to encode as categories even if numeric")
	fl.IntVar(&o.OneHotMax, "onehot-max", 64, "categorical columns with more distinct values are embedded (-1: never)")
	fl.StringArrayVar(&o.Embed, "embed", nil, "COLUMN:WIDTH: embed the column (repeatable)")
	fl.StringArrayVar(&o.HashBuckets, "hash-buckets", nil, "COLUMN:N or N: embed hashed into N rows (repeatable)")
}
