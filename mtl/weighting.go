package mtl

import "fmt"

// Method names a way of combining the task losses.
type Method string

const (
	// Equal sums the task losses with their static weights λ_t.
	Equal Method = "equal"
)

// Weighting chooses how task losses and gradients are combined.
type Weighting struct {
	Method Method `json:"method"`
}

func (w Weighting) validate() error {
	switch w.Method {
	case Equal, "":
		return nil
	}
	return fmt.Errorf("unknown weighting %q", w.Method)
}
