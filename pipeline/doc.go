// Package pipeline turns options and files into trained models, metrics
// and predictions. It is the library behind every mtl-gpu command: the
// command line parses flags into Options and prints what comes back, and
// anything that trains or applies a model calls this package, so the steps
// are written once:
//
//	read the file → fit the schema (columns, classes, scaling) → encode
//	→ task specs and positive-class weights → split off validation rows
//	→ model → trainer → model file
//
// Prepare does everything up to the model without touching a device;
// Run.Fit trains on a backend, saving the model file at every epoch and
// when interrupted; Run.ChooseWidth searches the shared width. LoadModel
// and Model.Read score or predict a data file; Describe says what a model
// file holds; PrepareCompare trains single-task models against the
// multi-task model. Warnings (allowed but doubtful input) are returned as
// values; nothing here prints.
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
