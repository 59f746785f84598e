// Command genptx writes kernels.ptx, the CUDA dialect of the kernels
// compiled with clang. It is run by go generate ./kernels.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/mtl-gpu/mtl-gpu/kernels"
	"github.com/mtl-gpu/mtl-gpu/kernels/internal/ptxgen"
)

func main() {
	out := flag.String("o", "kernels.ptx", "output file")
	clang := flag.String("clang", "clang", "clang executable")
	flag.Parse()
	b, err := ptxgen.Generate(context.Background(), *clang, kernels.Source(kernels.CUDA))
	if err == nil {
		err = os.WriteFile(*out, b, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "genptx:", err)
		os.Exit(1)
	}
}
