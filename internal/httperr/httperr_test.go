package httperr

import "testing"

func TestMessage(t *testing.T) {
	for body, want := range map[string]string{
		`{"error":{"message":"m1","type":"BadRequestError"}}`: "m1",
		`{"error":"m2","error_type":"validation"}`:            "m2",
		`{"object":"error","message":"m3"}`:                   "m3",
		`not json`:                                            "",
		`{"detail":"x"}`:                                      "",
	} {
		got, ok := Message([]byte(body))
		if got != want || ok != (want != "") {
			t.Errorf("%s: %q %v, want %q", body, got, ok, want)
		}
	}
}
