// Package suggest finds the likeliest intended word among the valid ones
// for a mistyped flag, command, column name or option value, for the
// "did you mean" of an error message.
package suggest

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Distance is the optimal-string-alignment edit distance between a and b,
// counted in runes: the fewest insertions, deletions, substitutions and
// swaps of two neighbouring runes that turn one into the other (a swap is
// the commonest typing slip: "trian" for "train").
func Distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// d[i][j] is the distance between ra[:i] and rb[:j].
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// Closest returns the candidate nearest to word, compared without regard
// to case, and whether it is near enough to suggest: within a third of
// the word's length in edits (at least 1, at most 3), or a candidate that
// starts with the word or that the word starts with. Ties go to the
// earlier candidate. A candidate equal to word is not a suggestion.
func Closest(word string, candidates []string) (string, bool) {
	w := strings.ToLower(word)
	limit := min(max(utf8.RuneCountInString(w)/3, 1), 3)
	best, bestD := "", -1
	for _, c := range candidates {
		lc := strings.ToLower(c)
		if c == word || lc == "" {
			continue
		}
		d := Distance(w, lc)
		if d > limit && !(len(w) >= 3 && (strings.HasPrefix(lc, w) || strings.HasPrefix(w, lc))) {
			continue
		}
		if bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	return best, bestD >= 0
}

// Hint returns "; did you mean X?" for the closest candidate to word, or
// "" when none is close. format quotes or decorates the suggestion (e.g.
// "--%s" or "%q").
func Hint(word string, candidates []string, format string) string {
	c, ok := Closest(word, candidates)
	if !ok {
		return ""
	}
	return "; did you mean " + fmt.Sprintf(format, c) + "?"
}
