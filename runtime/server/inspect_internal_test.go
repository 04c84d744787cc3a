package server

import "testing"

func TestLongestArray(t *testing.T) {
	for doc, want := range map[string]int{
		`{}`:                            0,
		`[]`:                            0,
		`[1,2,3]`:                       3,
		`{"a":[1,[2,3,4,5],{"b":[1]}]}`: 4,
		`{"a":[{"x":1},{"y":[1,2]},3]}`: 3,
		`[[],[],[],[],[]]`:              5,
		`{"a":`:                         -1,
	} {
		if got := longestArray([]byte(doc)); got != want {
			t.Errorf("%s: %d, want %d", doc, got, want)
		}
	}
}
