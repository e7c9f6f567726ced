package evaluate

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/lsrflow/lsrflow/textnorm"
)

// Python's \s for str patterns (str.isspace), \w (str.isalnum or "_": letters and numbers of
// every script) and \d (decimal digits of every script), as RE2 class contents.
const (
	pyWordClass  = `\p{L}\p{N}_`
	pyDigitClass = `\p{Nd}`
	pySpaceClass = `\t\n\v\f\r\x{1c}-\x{1f} \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}`
)

// CompilePyRegex compiles a Python `re` pattern (str, re.IGNORECASE) for Go. The classes
// \d, \w, \s and their negations get Python's Unicode meaning; \Z becomes \z. Constructs RE2
// lacks (backreferences, lookaround) are an error. \b and \B keep RE2's ASCII word boundary,
// which differs from Python's only next to non-ASCII letters and digits.
// With full, the pattern must match the whole text (re.fullmatch); otherwise anywhere
// (re.search).
func CompilePyRegex(pattern string, full bool) (*regexp.Regexp, error) {
	var b strings.Builder
	inClass := false
	rs := []rune(pattern)
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		switch {
		case c == '\\' && i+1 < len(rs):
			i++
			e := rs[i]
			switch e {
			case 'd', 'w', 's':
				cls := map[rune]string{'d': pyDigitClass, 'w': pyWordClass, 's': pySpaceClass}[e]
				if inClass {
					b.WriteString(cls)
				} else {
					b.WriteString("[" + cls + "]")
				}
			case 'D', 'W', 'S':
				cls := map[rune]string{'D': pyDigitClass, 'W': pyWordClass, 'S': pySpaceClass}[e]
				if inClass {
					if e == 'D' {
						b.WriteString(`\P{Nd}`)
						break
					}
					return nil, fmt.Errorf("pattern %q: \\%c inside a character class is not supported", pattern, e)
				}
				b.WriteString("[^" + cls + "]")
			case 'Z':
				b.WriteString(`\z`)
			case '1', '2', '3', '4', '5', '6', '7', '8', '9':
				return nil, fmt.Errorf("pattern %q: backreferences are not supported", pattern)
			default:
				b.WriteRune('\\')
				b.WriteRune(e)
			}
		case inClass:
			b.WriteRune(c)
			if c == ']' {
				inClass = false
			}
		case c == '[':
			inClass = true
			b.WriteRune(c)
			// a ']' right after '[' or '[^' is a literal
			if i+1 < len(rs) && rs[i+1] == '^' {
				b.WriteRune('^')
				i++
			}
			if i+1 < len(rs) && rs[i+1] == ']' {
				b.WriteString(`\]`)
				i++
			}
		case c == '(' && i+2 < len(rs) && rs[i+1] == '?' && strings.ContainsRune("=!<", rs[i+2]) &&
			!(rs[i+2] == '<' && i+3 < len(rs) && rs[i+3] != '=' && rs[i+3] != '!'):
			return nil, fmt.Errorf("pattern %q: lookaround is not supported", pattern)
		default:
			b.WriteRune(c)
		}
	}
	expr := b.String()
	if full {
		expr = `\A(?:` + expr + `)\z`
	}
	re, err := regexp.Compile("(?i)" + expr)
	if err != nil {
		return nil, fmt.Errorf("pattern %q: %w", pattern, err)
	}
	return re, nil
}

// ScoreQARegex is ScoreQA for datasets whose gold answers are regular expressions (FlashRAG
// treats dataset_name "curatedtrec" so, flashrag/evaluator/metrics.py): EM when a pattern
// fully matches the normalized prediction (re.fullmatch, re.IGNORECASE), acc when it matches
// anywhere in it (re.search); F1, precision and recall compare the normalized patterns as
// text, as FlashRAG does. A pattern Go cannot compile is an error.
func ScoreQARegex(pred string, golden []string) (QA, error) {
	q := ScoreQA(pred, golden)
	q.EM, q.Acc = 0, 0
	p := textnorm.Normalize(pred)
	for _, g := range golden {
		full, err := CompilePyRegex(g, true)
		if err != nil {
			return QA{}, err
		}
		part, err := CompilePyRegex(g, false)
		if err != nil {
			return QA{}, err
		}
		if full.MatchString(p) {
			q.EM = 1
		}
		if part.MatchString(p) {
			q.Acc = 1
		}
	}
	return q, nil
}
