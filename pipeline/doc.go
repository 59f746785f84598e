// Package pipeline turns options and files into trained models, metrics
// and predictions. It is the library behind every mtl-gpu command: the
// command line parses flags into Options and prints what comes back, and
// anything that trains or applies a model calls this package, so the steps
// are written once:
//
//	open the data (CSV/TSV, Parquet, NumPy feature files joined)
//	→ fit the schema in one pass (columns, classes, scaling, embeddings;
//	  each row's group and stratum) → draw the validation split or folds
//	→ encode the training and validation rows, each straight into its own
//	  matrix → task specs and positive-class weights → model → trainer
//	→ model file
//
// The data is read in blocks (package data) and never held as text. When
// the encoded training rows would not fit the memory budget (or when
// asked, Options.Memory), they are not held at all: the run streams them
// from the file block by block (package stream), holds the validation
// rows in memory, and records how, so that a resumed run reads the same
// blocks. Prepare does everything up to the model without touching a
// device;
// Run.Fit trains on a backend, saving the model file at every epoch and
// when interrupted; Run.ChooseWidth searches the shared width.
// Model.Evaluate and Model.PredictTo stream a data file through a model,
// in memory that does not grow with the file; Model.ReadRows encodes rows
// given as strings (serve); Describe says what a model file holds;
// PrepareCompare trains single-task models against the multi-task model;
// Convert and Inspect rewrite and summarise data files. Warnings (allowed
// but doubtful input) are returned as values; nothing here prints.
//
// A model file records what defines its run besides the model (Record):
// its data source with a fingerprint of the content, the validation split
// and the holdout, so that a resumed run trains on the same rows. A run
// whose best loss does not beat the constant predictor (class frequencies,
// target means) has diverged (NoBetterError), and it never replaces an
// earlier model unless forced. No output is ever one of the inputs
// (CheckOutput).
//
// Errors about options are *OptionError values naming the option, so
// that a command line can name its flag; errors about data name the file,
// line and column (package data).
package pipeline
