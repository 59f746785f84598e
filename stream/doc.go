// Package stream trains on data larger than memory: it decides whether a
// run holds its encoded rows in memory or streams them, and prepares a
// streamed run's data for mtl.NewStreamTrainer.
//
// # Deciding
//
// A run has a memory budget: what the user gives, or DefaultBudget, half
// of the physical memory or of the cgroup's limit where that is lower.
// Estimate works out what the run would take in memory from the first
// pass's result and the model,
//
//	rows × (encoded row + device row + first-pass row) + model
//
// where an encoded row is 4 bytes per dense input, embedding index,
// label and group, the device row the trainer's copy when its device is
// the host's memory, the first-pass row the split's bookkeeping, and the
// model its parameters, gradients and optimiser state. Decide streams
// when the run asks for it (Always), or when it would not fit (Auto),
// and says so in one line for the run to print and record: the amount of
// memory never changes a model silently.
//
// # The passes
//
// Fit is the first pass: data.FitSource learns the schema, the row count
// and each row's group. A text file (or any source that is not a Parquet
// file) that may be streamed is written on the way to a binary block
// cache (data.WriteCache) from the same reading of the text; Fitted.Close
// removes it unless it is to be kept. A Parquet file is read row group by
// row group directly. A pipe cannot be streamed, since every epoch reads
// the data again: asking to is an error that names it.
//
// Fitted.Stream splits the rows into training and validation rows by the
// rule of an in-memory run (trainset.Parts: the same rows, by group when
// there is a group column), then reads the cache or the Parquet file once
// in order: it encodes every row (so that a bad cell is an error before
// training starts, and the warnings cover every row), keeps the
// validation rows in memory (Data.Val, in the split's order, as an
// in-memory run holds them) and counts the training labels
// (Data.LabelStats, for mtl.NewModelFromStats; the class counts are
// exact, a regression target's mean and deviation are Welford's).
//
// # Blocks
//
// Data is an mtl.Stream. Its blocks are runs of the units the source is
// stored in: the cache's blocks (each one chunk of the text, ChunkSize
// bytes) or the Parquet file's row groups, as many consecutive units as
// Layout.BlockRows rows hold (at least one). Block i reads its units,
// encodes their rows with the schema and keeps the training rows. The
// trainer shuffles the blocks each epoch, shuffles the rows of
// Layout.Window blocks together, and reads the next window on another
// goroutine while the current one trains, so that reading and encoding
// stay off the training step's path. A block holds up to
//
//	BlockRows = (budget/2 − model − validation rows − one unit read) / (Window × (2 × encoded row + device row) + encoded row)
//
// rows, and no more than makes four windows an epoch (an epoch's first
// window is read before it trains): a window's rows are held on the host
// once (the trainer reads the next window into one data set sized for it
// once the current one is on the device, and keeps no host copy of the
// window training), with room for its label matrix while it is copied
// to the device, and once in the device's buffers; a block is held as
// it is read; and half the budget is left to the garbage collector (a
// command sets the runtime's memory limit to the budget, so that it
// collects before the heap passes it). A budget too small for one window
// and the model is an error that gives the amounts; so is a Parquet row
// group too large to read under it.
//
// The layout (BlockRows, Window and the chunk size of a text file's
// cache) is recorded with the run: the same layout on the same file gives
// the same blocks, and with the trainer's seed the same model, and a run
// resumed from a checkpoint the very model of one that was not
// interrupted.
//
// # Memory that grows with the file
//
// Besides the budget's blocks, a run keeps a byte a row (which rows are
// held out) through training, and during the first pass the 8 bytes a
// row of data.FitResult's Groups and Strata and, while it splits, 4 more;
// and the validation rows are held in memory (Estimate and the block
// sizes count them).
package stream
