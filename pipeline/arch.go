package pipeline

import (
	"fmt"
	"strings"

	"github.com/mtl-gpu/mtl-gpu/mtl"
)

// Defaults of the mixture-of-experts bodies.
const (
	DefaultExperts     = 8 // MMoE's experts; PLE's shared experts per level
	DefaultTaskExperts = 2 // PLE's experts of each task per level
	DefaultLevels      = 2 // PLE's levels
)

// DefaultExpertHidden is the widths of each expert's layers.
var DefaultExpertHidden = []int{64}

// maxMembers bounds an ensemble or a cross-validation.
const maxMembers = 64

// ParseArch reads an architecture name (shared, mmoe, ple), in any case.
func ParseArch(s string) (mtl.Arch, error) {
	var names []string
	for _, a := range mtl.Archs {
		names = append(names, string(a))
	}
	name, err := parseEnum("arch", s, names)
	return mtl.Arch(name), err
}

// ParseWidths reads comma-separated layer widths of at least 1 for the
// option named option.
func ParseWidths(option, s string) ([]int, error) {
	w, auto, err := ParseHidden(s)
	switch {
	case err != nil:
		return nil, &OptionError{Option: option, Value: s, Err: err.(*OptionError).Err}
	case auto || len(w) == 0:
		return nil, optionErrorf(option, s, "want the widths of one or more layers, e.g. 64 or 128,64")
	}
	return w, nil
}

// validateArch checks the architecture and member options together.
func (o *Options) validateArch() error {
	switch {
	case o.Experts < 0 || o.TaskExperts < 0 || o.Levels < 0:
		return optionErrorf("experts", fmt.Sprint(o.Experts), "expert and level counts must be ≥ 0")
	case o.Ensemble < 0 || o.Ensemble > maxMembers:
		return optionErrorf("ensemble", fmt.Sprint(o.Ensemble), "must be in [1, %d]", maxMembers)
	case o.CV == 1 || o.CV < 0 && o.CV != AutoCV || o.CV > maxMembers:
		return optionErrorf("cv", fmt.Sprint(o.CV), "must be at least 2 folds, at most %d", maxMembers)
	case o.CV > 1 && o.Ensemble > 1:
		return optionErrorf("ensemble", fmt.Sprint(o.Ensemble), "and --cv %d both make members: a cross-validation is already an ensemble of its folds", o.CV)
	case o.CV > 1 && o.AutoWidth:
		return optionErrorf("hidden", "auto", "chooses the width on one validation split; with --cv give the width")
	}
	arch := o.Arch
	if arch == "" || arch == mtl.SharedBottom {
		for name, set := range map[string]bool{"experts": o.Experts > 0, "task-experts": o.TaskExperts > 0, "levels": o.Levels > 0, "expert-hidden": len(o.ExpertHidden) > 0} {
			if set {
				return optionErrorf(name, "", "applies to --arch mmoe or ple, not to a shared bottom")
			}
		}
		return nil
	}
	if o.AutoWidth {
		return optionErrorf("hidden", "auto", "chooses the width of a shared bottom; for --arch %s give --expert-hidden", arch)
	}
	if arch == mtl.MMoE && (o.TaskExperts > 0 || o.Levels > 1) {
		return optionErrorf("arch", "mmoe", "has one level of shared experts: --task-experts and --levels are PLE's")
	}
	return nil
}

// applyArch sets the body and members of a new run's spec.
func (o *Options) applyArch(spec *mtl.Spec) {
	spec.Members = max(o.Ensemble, o.CV)
	if spec.Members == 1 {
		spec.Members = 0
	}
	if o.Arch == "" || o.Arch == mtl.SharedBottom {
		return
	}
	spec.Arch = o.Arch
	spec.Hidden = o.ExpertHidden
	if len(spec.Hidden) == 0 {
		spec.Hidden = DefaultExpertHidden
	}
	spec.Experts = orInt(o.Experts, DefaultExperts)
	if o.Arch == mtl.PLE {
		spec.TaskExperts = orInt(o.TaskExperts, DefaultTaskExperts)
		spec.Levels = orInt(o.Levels, DefaultLevels)
	}
}

func orInt(v, d int) int {
	if v == 0 {
		return d
	}
	return v
}

// ArchString describes a spec's body in a few words, for logs.
func ArchString(s mtl.Spec) string {
	var b strings.Builder
	switch s.Arch {
	case mtl.MMoE:
		fmt.Fprintf(&b, "mmoe, %d experts of %v", s.Experts, s.Hidden)
	case mtl.PLE:
		fmt.Fprintf(&b, "ple, %d levels of %d shared and %d per-task experts of %v", s.Levels, s.Experts, s.TaskExperts, s.Hidden)
	default:
		fmt.Fprintf(&b, "shared %v", s.Hidden)
	}
	if s.Members > 1 {
		fmt.Fprintf(&b, ", %d members", s.Members)
	}
	return b.String()
}
