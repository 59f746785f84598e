package main

import (
	"github.com/mtl-gpu/mtl-gpu/pipeline"
	"github.com/spf13/pflag"
)

// inputFlags are the flags that name a data file and how to read it.
type inputFlags struct {
	data        string
	features    []string
	maxRowBytes int
}

// register adds the data flags; what says what the data holds.
func (f *inputFlags) register(fl *pflag.FlagSet, what string) {
	fl.StringVar(&f.data, "data", "", what+": CSV or TSV with a header (optionally .gz), or Parquet")
	f.registerReading(fl)
}

// registerReading adds the flags about reading a data file besides its
// name.
func (f *inputFlags) registerReading(fl *pflag.FlagSet) {
	fl.StringArrayVar(&f.features, "features", nil, "NumPy matrix FILE.npy[:PREFIX] joined to --data row by row, its columns inputs PREFIX[0]… (PREFIX defaults to the file's base name; repeatable)")
	fl.IntVar(&f.maxRowBytes, "max-row-bytes", 0, "longest row of a text file, in bytes (default 16 MiB)")
}

// featureFiles parses --features.
func (f *inputFlags) featureFiles() ([]pipeline.FeatureFile, error) {
	var out []pipeline.FeatureFile
	for _, s := range f.features {
		ff, err := pipeline.ParseFeatureFile(s)
		if err != nil {
			return nil, err
		}
		out = append(out, ff)
	}
	return out, nil
}

// input is the data file to read, or a usage error without --data.
func (f *inputFlags) input() (pipeline.DataInput, error) {
	if f.data == "" {
		return pipeline.DataInput{}, usageError("--data is required")
	}
	features, err := f.featureFiles()
	if err != nil {
		return pipeline.DataInput{}, err
	}
	return pipeline.DataInput{Path: f.data, Features: features, MaxRowBytes: f.maxRowBytes}, nil
}
