package tokenizer

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestRegexAgainstHF runs patterns through Hugging Face's Split pre-tokenizer (Oniguruma) via
// a tokenizer.json whose only component is that Split, and compares the pieces.
func TestRegexAgainstHF(t *testing.T) {
	patterns := []string{
		gpt2Pattern,
		`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
		`[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
		`\d{1,3}(?=(?:\d{3})*\b)`, `a+?b|a*`, `(?>a+)b|a`, `\w+|[^\w\s]+`, `x*`, `^\s+|\s+$`,
		`[A-Za-z]+|[一-龥]+|.`, `(ab|a)(c|bcd)`, `\p{N}{2,}?`, `(?i)GrÜn|ΣΑΣ|k`, `\bthe\b`,
		`[\-\[\]\\^]+`, `\x{2581}+|\u2581`,
	}
	texts := append(slices.Clone(hfTricky), "aab ab b aaab", "1234567 12 123456", "xxx", "abcd acd abcd",
		"Thé THE the theme", "K \u212a k ſ s S STRASSE straße grün GRÜN σας ΣΑς", "[-]\\^ ▁▁x▁")
	for _, pat := range patterns {
		re, err := compileRegex(pat)
		if err != nil {
			t.Fatalf("%q: %v", pat, err)
		}
		path := splitOnlyTokenizer(t, pat)
		ref := hfPieces(t, path, texts)
		for i, s := range texts {
			var got []string
			prev := 0
			re.findAll(s, func(start, end int) {
				if start > prev {
					got = append(got, s[prev:start])
				}
				if end > start {
					got = append(got, s[start:end])
				}
				prev = end
			})
			if prev < len(s) {
				got = append(got, s[prev:])
			}
			if !slices.Equal(got, ref[i]) {
				t.Errorf("%q on %q:\n got %q\nwant %q", pat, clip(s), got, ref[i])
			}
		}
	}
}

func TestRegexErrors(t *testing.T) {
	for _, c := range []struct{ pat, want string }{
		{`(?<=a)b`, "lookbehind"}, {`(a)\1`, "escape"}, {`[[:alpha:]]`, "POSIX"}, {`[a&&b]`, "&&"},
		{`(a`, "missing )"}, {`a)`, "unbalanced"}, {`\p{Nope}`, "unknown property"}, {`(?x)a`, "flag"},
		{`(a*)*`, "empty"}, {`*a`, "quantifier"}, {`(?i)ß`, "multi-character"}, {`(?i:fit)`, "ligature"},
	} {
		_, err := compileRegex(c.pat)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), fmt.Sprintf("%q", c.pat)) {
			t.Errorf("%q: err = %v, want one naming the pattern and %q", c.pat, err, c.want)
		}
	}
	_, err := Parse([]byte(`{"pre_tokenizer":{"type":"Split","pattern":{"Regex":"(?<=x)y"},"behavior":"Isolated","invert":false},"model":{"type":"WordPiece","vocab":{"[UNK]":0}}}`))
	if err == nil || !strings.Contains(err.Error(), `"(?<=x)y"`) {
		t.Errorf("Split with lookbehind: err = %v", err)
	}
}

func FuzzRegex(f *testing.F) {
	f.Add(gpt2Pattern, "it's 12345  ok\n")
	f.Add(`(?i:'s|'t)|\p{N}{1,3}|\s+(?!\S)`, "A'S 1234")
	f.Add(`(a|ab)(c|bcd)(d*)`, "abcd")
	f.Fuzz(func(t *testing.T, pat, s string) {
		if len(pat) > 64 || len(s) > 256 {
			return
		}
		re, err := compileRegex(pat)
		if err != nil {
			return
		}
		prev := 0
		re.findAll(s, func(start, end int) {
			if start < prev || end < start || end > len(s) {
				t.Fatalf("%q on %q: match [%d,%d) after %d", pat, s, start, end, prev)
			}
			if start < len(s) && utf8.ValidString(s) && !utf8.RuneStart(s[start]) {
				t.Fatalf("%q on %q: match starts inside a character at %d", pat, s, start)
			}
			prev = end
		})
	})
}
