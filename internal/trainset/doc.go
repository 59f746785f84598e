// Package trainset makes a run's training and validation sets as every
// way of training makes them: package pipeline, which holds the encoded
// rows in memory, and package stream, which reads them block by block
// from a file larger than memory. Both hold out the very same rows for
// validation (Split, Parts) and hand the trainer the same form of the
// encoded rows (Dataset).
package trainset
