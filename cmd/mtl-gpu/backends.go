package main

// The backends this binary offers; each registers itself from its init.
import (
	_ "github.com/mtl-gpu/mtl-gpu/backend/cpu"
)
