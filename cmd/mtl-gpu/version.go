package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version describes this binary: the module version and, for a build from
// a checkout, the VCS revision, its time and whether the tree was
// modified, as the Go toolchain records them.
func version() string {
	v := "mtl-gpu (unknown version)"
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	mod := info.Main.Version
	if mod == "" {
		mod = "(devel)"
	}
	v = "mtl-gpu " + mod
	var rev, at, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = ", modified"
			}
		}
	}
	if rev != "" {
		v += fmt.Sprintf(" (revision %s, %s%s)", rev, at, modified)
	}
	return v + ", " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
}

func (a *app) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of this binary (also mtl-gpu --version)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := fmt.Fprintln(a.stdout, version())
			return err
		},
	}
}
