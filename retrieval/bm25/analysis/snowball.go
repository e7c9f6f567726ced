package analysis

import "strings"

// SnowballEnglish stems a lowercase word with the Snowball English ("Porter2") algorithm as
// libstemmer 2.2 implements it (snowballstem.org, algorithms/english/stemmer.html): the
// exceptional forms, the prelude (initial apostrophe, consonant y marked Y), regions R1/R2
// (with the gener/commun/arsen prefixes), steps 0-5 and the postlude. Characters other than
// a, e, i, o, u, y count as consonants; words of fewer than three characters are unchanged.
func SnowballEnglish(word string) string {
	if s, ok := snowballException1[word]; ok {
		return s
	}
	w := []rune(word)
	if len(w) < 3 {
		return word
	}
	// Prelude.
	if w[0] == '\'' {
		w = w[1:]
	}
	if len(w) > 0 && w[0] == 'y' {
		w[0] = 'Y'
	}
	for i := 1; i < len(w); i++ {
		if w[i] == 'y' && isV(w[i-1]) {
			w[i] = 'Y'
		}
	}
	st := &snow{w: w}
	st.markRegions()
	st.step1a()
	if !snowballException2[string(st.w)] {
		st.step1b()
		st.step1c()
		st.step2()
		st.step3()
		st.step4()
		st.step5()
	}
	// Postlude.
	for i, r := range st.w {
		if r == 'Y' {
			st.w[i] = 'y'
		}
	}
	return string(st.w)
}

var snowballException1 = map[string]string{
	"skis": "ski", "skies": "sky", "dying": "die", "lying": "lie", "tying": "tie",
	"idly": "idl", "gently": "gentl", "ugly": "ugli", "early": "earli", "only": "onli",
	"singly": "singl",
	"sky":    "sky", "news": "news", "howe": "howe", "atlas": "atlas", "cosmos": "cosmos",
	"bias": "bias", "andes": "andes",
}

var snowballException2 = map[string]bool{
	"inning": true, "outing": true, "canning": true, "herring": true, "earring": true,
	"proceed": true, "exceed": true, "succeed": true,
}

// isV: Snowball english's vowel grouping v = aeiouy (Y, a consonant y, is not in it).
func isV(r rune) bool {
	switch r {
	case 'a', 'e', 'i', 'o', 'u', 'y':
		return true
	}
	return false
}

type snow struct {
	w      []rune
	p1, p2 int
}

// gopastVC returns the index just past the first non-vowel that follows a vowel at or after
// i, or len(w).
func (s *snow) gopastVC(i int) int {
	for i < len(s.w) && !isV(s.w[i]) {
		i++
	}
	for i < len(s.w) && isV(s.w[i]) {
		i++
	}
	if i >= len(s.w) {
		return len(s.w)
	}
	return i + 1
}

func (s *snow) markRegions() {
	s.p1 = -1
	for _, pre := range [...]string{"gener", "commun", "arsen"} {
		if hasPrefixRunes(s.w, pre) {
			s.p1 = len([]rune(pre))
			break
		}
	}
	if s.p1 < 0 {
		s.p1 = s.gopastVC(0)
	}
	s.p2 = s.gopastVC(s.p1)
}

func hasPrefixRunes(w []rune, p string) bool {
	if len(w) < len(p) {
		return false
	}
	return string(w[:len(p)]) == p
}

// suffix returns the longest of cands that ends w ("" when none does).
func (s *snow) suffix(cands []string) string {
	best := ""
	for _, c := range cands {
		if len(c) > len(best) && s.endsWith(c) {
			best = c
		}
	}
	return best
}

func (s *snow) endsWith(suf string) bool {
	n := len(suf) // suffixes are ASCII
	if n > len(s.w) {
		return false
	}
	return string(s.w[len(s.w)-n:]) == suf
}

func (s *snow) replace(suf, with string) {
	s.w = append(s.w[:len(s.w)-len(suf)], []rune(with)...)
}

// shortV: the syllable ending at index end (exclusive) is short: non-vowel, vowel, non-vowel
// other than w, x, Y; or vowel, non-vowel at the start of the word.
func (s *snow) shortV(end int) bool {
	if end >= 3 {
		a, b, c := s.w[end-3], s.w[end-2], s.w[end-1]
		if !isV(a) && isV(b) && !isV(c) && c != 'w' && c != 'x' && c != 'Y' {
			return true
		}
	}
	return end == 2 && isV(s.w[0]) && !isV(s.w[1])
}

func (s *snow) hasVowel(end int) bool {
	for _, r := range s.w[:end] {
		if isV(r) {
			return true
		}
	}
	return false
}

var step0Suffixes = []string{"'", "'s", "'s'"}
var step1aSuffixes = []string{"sses", "ied", "ies", "s", "us", "ss"}

func (s *snow) step1a() {
	if suf := s.suffix(step0Suffixes); suf != "" {
		s.replace(suf, "")
	}
	switch suf := s.suffix(step1aSuffixes); suf {
	case "sses":
		s.replace(suf, "ss")
	case "ied", "ies":
		if len(s.w)-3 > 1 {
			s.replace(suf, "i")
		} else {
			s.replace(suf, "ie")
		}
	case "s":
		// Delete if a vowel occurs before the letter preceding the s.
		if len(s.w) >= 2 && s.hasVowel(len(s.w)-2) {
			s.replace(suf, "")
		}
	}
}

var step1bSuffixes = []string{"eed", "eedly", "ed", "edly", "ing", "ingly"}

func (s *snow) step1b() {
	suf := s.suffix(step1bSuffixes)
	switch suf {
	case "":
		return
	case "eed", "eedly":
		if len(s.w)-len(suf) >= s.p1 {
			s.replace(suf, "ee")
		}
		return
	}
	if !s.hasVowel(len(s.w) - len(suf)) {
		return
	}
	s.replace(suf, "")
	switch {
	case s.endsWith("at"), s.endsWith("bl"), s.endsWith("iz"):
		s.w = append(s.w, 'e')
	case s.endsDouble():
		s.w = s.w[:len(s.w)-1]
	case len(s.w) == s.p1 && s.shortV(len(s.w)):
		s.w = append(s.w, 'e')
	}
}

func (s *snow) endsDouble() bool {
	n := len(s.w)
	if n < 2 || s.w[n-1] != s.w[n-2] {
		return false
	}
	switch s.w[n-1] {
	case 'b', 'd', 'f', 'g', 'm', 'n', 'p', 'r', 't':
		return true
	}
	return false
}

func (s *snow) step1c() {
	n := len(s.w)
	if n >= 3 && (s.w[n-1] == 'y' || s.w[n-1] == 'Y') && !isV(s.w[n-2]) {
		s.w[n-1] = 'i'
	}
}

var step2Map = map[string]string{
	"tional": "tion", "enci": "ence", "anci": "ance", "abli": "able", "entli": "ent",
	"izer": "ize", "ization": "ize", "ational": "ate", "ation": "ate", "ator": "ate",
	"alism": "al", "aliti": "al", "alli": "al", "fulness": "ful", "ousli": "ous",
	"ousness": "ous", "iveness": "ive", "iviti": "ive", "biliti": "ble", "bli": "ble",
	"ogi": "og", "fulli": "ful", "lessli": "less", "li": "",
}
var step2Suffixes = mapKeys(step2Map)

func mapKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func (s *snow) step2() {
	suf := s.suffix(step2Suffixes)
	if suf == "" || len(s.w)-len(suf) < s.p1 {
		return
	}
	before := len(s.w) - len(suf)
	switch suf {
	case "ogi":
		if before < 1 || s.w[before-1] != 'l' {
			return
		}
	case "li":
		if before < 1 || !strings.ContainsRune("cdeghkmnrt", s.w[before-1]) {
			return
		}
	}
	s.replace(suf, step2Map[suf])
}

var step3Map = map[string]string{
	"tional": "tion", "ational": "ate", "alize": "al", "icate": "ic", "iciti": "ic",
	"ical": "ic", "ful": "", "ness": "", "ative": "",
}
var step3Suffixes = mapKeys(step3Map)

func (s *snow) step3() {
	suf := s.suffix(step3Suffixes)
	if suf == "" || len(s.w)-len(suf) < s.p1 {
		return
	}
	if suf == "ative" && len(s.w)-len(suf) < s.p2 {
		return
	}
	s.replace(suf, step3Map[suf])
}

var step4Suffixes = []string{"al", "ance", "ence", "er", "ic", "able", "ible", "ant", "ement",
	"ment", "ent", "ism", "ate", "iti", "ous", "ive", "ize", "ion"}

func (s *snow) step4() {
	suf := s.suffix(step4Suffixes)
	if suf == "" || len(s.w)-len(suf) < s.p2 {
		return
	}
	if suf == "ion" {
		before := len(s.w) - 3
		if before < 1 || (s.w[before-1] != 's' && s.w[before-1] != 't') {
			return
		}
	}
	s.replace(suf, "")
}

func (s *snow) step5() {
	n := len(s.w)
	if n == 0 {
		return
	}
	switch s.w[n-1] {
	case 'e':
		if n-1 >= s.p2 || (n-1 >= s.p1 && !s.shortV(n-1)) {
			s.w = s.w[:n-1]
		}
	case 'l':
		if n-1 >= s.p2 && n >= 2 && s.w[n-2] == 'l' {
			s.w = s.w[:n-1]
		}
	}
}
