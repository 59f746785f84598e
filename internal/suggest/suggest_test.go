package suggest

import "testing"

func TestDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		d    int
	}{
		{"", "", 0}, {"abc", "", 3}, {"", "abc", 3}, {"kitten", "sitting", 3},
		{"adam", "adamw", 1}, {"flaw", "lawn", 2}, {"épée", "epee", 2}, {"trian", "train", 1}, {"ca", "abc", 3},
	} {
		if got := Distance(c.a, c.b); got != c.d {
			t.Errorf("Distance(%q, %q) = %d, want %d", c.a, c.b, got, c.d)
		}
		if got := Distance(c.b, c.a); got != c.d {
			t.Errorf("Distance(%q, %q) = %d, want %d", c.b, c.a, got, c.d)
		}
	}
}

func TestClosest(t *testing.T) {
	opts := []string{"sgd", "adam", "adamw"}
	for _, c := range []struct {
		word, want string
		ok         bool
	}{
		{"adamm", "adam", true},
		{"ADAMX", "adam", true},
		{"sdg", "sgd", true},
		{"rmsprop", "", false},
		{"epoch", "epochs", true},
		{"val-spilt", "val-split", true},
		{"x", "", false},
	} {
		cands := opts
		if c.word == "epoch" || c.word == "val-spilt" {
			cands = []string{"epochs", "val-split", "seed"}
		}
		got, ok := Closest(c.word, cands)
		if got != c.want || ok != c.ok {
			t.Errorf("Closest(%q) = %q, %v; want %q, %v", c.word, got, ok, c.want, c.ok)
		}
	}
	if h := Hint("trian", []string{"train", "eval"}, "%q"); h != `; did you mean "train"?` {
		t.Errorf("Hint = %q", h)
	}
	if h := Hint("zzzzzz", []string{"train"}, "%q"); h != "" {
		t.Errorf("Hint for a far word = %q", h)
	}
}
