package main

import (
	"github.com/mtl-gpu/mtl-gpu/pipeline"
	"github.com/mtl-gpu/mtl-gpu/stream"
	"github.com/spf13/pflag"
)

// memoryFlags are the flags that say whether a run holds its training
// rows in memory or streams them from the data file.
type memoryFlags struct {
	stream, noStream, keepCache bool
	maxMemory                   string
	window                      int
}

func (m *memoryFlags) register(fl *pflag.FlagSet) {
	fl.BoolVar(&m.stream, "stream", false, "stream the training rows from --data block by block, whatever their size (a file, not a pipe)")
	fl.BoolVar(&m.noStream, "no-stream", false, "hold the training rows in memory; an error when they would not fit --max-memory")
	fl.StringVar(&m.maxMemory, "max-memory", "", "memory budget, e.g. 512M or 4G (default: half the memory, or of the cgroup's limit); training rows that would not fit are streamed")
	fl.BoolVar(&m.keepCache, "keep-cache", false, "keep the block cache of a streamed text file (MODEL.cache)")
	fl.IntVar(&m.window, "shuffle-window", 0, "blocks of a streamed run whose rows are shuffled together (default 4)")
}

// options completes the memory options from the flags.
func (m *memoryFlags) options(o *pipeline.MemoryOptions) error {
	switch {
	case m.stream && m.noStream:
		return usageError("--stream and --no-stream: choose one")
	case m.stream:
		o.Mode = stream.Always
	case m.noStream:
		o.Mode = stream.Never
	default:
		o.Mode = stream.Auto
	}
	o.Budget = stream.DefaultBudget()
	if m.maxMemory != "" {
		n, err := stream.ParseSize(m.maxMemory)
		if err != nil {
			return usageError("--max-memory: %v", err)
		}
		o.Budget = stream.Budget{Bytes: n, From: "--max-memory"}
	}
	o.KeepCache, o.Window = m.keepCache, m.window
	return nil
}
