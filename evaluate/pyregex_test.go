package evaluate

import (
	"encoding/json"
	"os/exec"
	"testing"
)

// curatedtrec's EM and acc (FlashRAG: re.fullmatch / re.search of each gold pattern, with
// re.IGNORECASE, on normalize_answer(prediction)) agree with CPython's re on patterns in the
// dataset's style and on Unicode classes.
func TestRegexEMMatchesPython(t *testing.T) {
	type tc struct {
		Pattern string `json:"pattern"`
		Pred    string `json:"pred"`
	}
	cases := []tc{
		{`Gary\s+Player`, "Gary Player"}, {`Gary\s+Player`, "it was gary  player!"},
		{`(?:the\s+)?Louisiana\s+Purchase`, "The Louisiana Purchase."}, {`1,?5,?0,?0`, "1500"}, {`1,?5,?0,?0`, "1,500"},
		{`Nile|Amazon`, "the amazon river"}, {`Nile|Amazon`, "Amazon"}, {`\d+ years?`, "about 40 years"},
		{`\d+ years?`, "٤٠ years"}, {`\w+burg`, "Straßburg"}, {`[Ss]t\.? Louis`, "St. Louis"},
		{`\bpar\b`, "par"}, {`(?i)hemingway`, "Ernest HEMINGWAY"}, {`[^\d]+`, "abc"}, {`[\w-]+`, "a-b"},
		{`colou?r`, "colour"}, {`\s`, "a\u3000b"}, {`x\Sy`, "xzy"}, {`[]a]`, "]"}, {`(?P<n>abc)`, "abc"},
		{`\W`, "a b"}, {`a{2,3}`, "aaa"}, {`.*`, ""}, {`é`, "É"},
	}
	in, _ := json.Marshal(cases)
	out, err := exec.CommandContext(t.Context(), python, "-c", `
import json, re, string, sys
def normalize_answer(s):
    s = s.lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())
out = []
for c in json.loads(sys.argv[1]):
    p = normalize_answer(c["pred"])
    g = re.compile(c["pattern"], re.IGNORECASE)
    out.append([re.fullmatch(g, p) is not None, re.search(g, p) is not None])
print(json.dumps(out))
`, string(in)).Output()
	if err != nil {
		t.Fatalf("python: %v", err)
	}
	var want [][2]bool
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		q, err := ScoreQARegex(c.Pred, []string{c.Pattern})
		if err != nil {
			t.Errorf("%q: %v", c.Pattern, err)
			continue
		}
		if (q.EM == 1) != want[i][0] || (q.Acc == 1) != want[i][1] {
			t.Errorf("pattern %q on %q: em %v acc %v, python fullmatch %v search %v", c.Pattern, c.Pred, q.EM, q.Acc, want[i][0], want[i][1])
		}
	}
	for _, bad := range []string{`(a)\1`, `foo(?=bar)`, `(?<!x)y`, `[\W]`} {
		if _, err := ScoreQARegex("x", []string{bad}); err == nil {
			t.Errorf("%q: compiled", bad)
		}
	}
}
