package kernels

import (
	"fmt"
	"strings"
)

// The Host dialect ends with the table through which a stand-in driver
// finds and calls the kernels, one entry per kernel of Kernels, in order,
// and a last entry with a null name:
//
//	struct mtl_host_kernel {
//		const char* name;
//		int args;
//		void (*run)(const uint64_t* slots);
//	};
//	extern const struct mtl_host_kernel mtl_host_kernels[];
//
// run calls the kernel for the thread the stand-in made current, with the
// arguments read from one 8-byte slot each, as cuLaunchKernel receives
// them: an int or a float from the low 4 bytes, a buffer as a pointer.
// The table is made from Kernels, so every kernel in it has a host build,
// and a kernel of the table without a definition fails to compile.

// hostSlot returns the C expression that reads slot i as an argument of
// kind k.
func hostSlot(k ArgKind, i int) string {
	switch k {
	case Int:
		return fmt.Sprintf("mtl_host_int(s[%d])", i)
	case Float:
		return fmt.Sprintf("mtl_host_float(s[%d])", i)
	case FloatBuffer:
		return fmt.Sprintf("(float*)(uintptr_t)s[%d]", i)
	case IntBuffer:
		return fmt.Sprintf("(int*)(uintptr_t)s[%d]", i)
	}
	panic(fmt.Sprintf("kernels: argument kind %v", k))
}

// writeHostEntries appends the entry table of the Host dialect.
func writeHostEntries(b *strings.Builder) {
	b.WriteString("#line 1 \"entries (kernels/host.go)\"\n")
	b.WriteString(`struct mtl_host_kernel {
	const char* name;
	int args;
	void (*run)(const uint64_t* slots);
};

static inline int mtl_host_int(uint64_t slot) { return (int)(int32_t)(uint32_t)slot; }

static inline float mtl_host_float(uint64_t slot)
{
	const uint32_t bits = (uint32_t)slot;
	float f;
	memcpy(&f, &bits, sizeof f);
	return f;
}
`)
	for _, k := range table {
		fmt.Fprintf(b, "\nstatic void mtl_host_run_%s(const uint64_t* s)\n{\n\t%s(", k.Name, k.Name)
		for i, a := range k.Args {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(hostSlot(a.Kind, i))
		}
		b.WriteString(");\n}\n")
	}
	b.WriteString("\nconst struct mtl_host_kernel mtl_host_kernels[] = {\n")
	for _, k := range table {
		fmt.Fprintf(b, "\t{\"%s\", %d, mtl_host_run_%s},\n", k.Name, len(k.Args), k.Name)
	}
	b.WriteString("\t{0, 0, 0},\n};\n")
}
