package httplm

import "testing"

func TestChoiceSetRejectsMissingRepeatedAndOutOfRange(t *testing.T) {
	if _, err := newChoiceSet(2, 3); err == nil {
		t.Fatal("2 choices for 3 prompts accepted")
	}
	s, err := newChoiceSet(3, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{2, 0, 1} { // any order
		if err := s.claim(i); err != nil {
			t.Fatalf("claim %d: %v", i, err)
		}
	}
	for _, i := range []int{1, -1, 3} {
		if err := s.claim(i); err == nil {
			t.Fatalf("claim %d accepted", i)
		}
	}
}
