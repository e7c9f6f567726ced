package analysis

import "unicode/utf16"

// Porter stems a word as Lucene's PorterStemmer does (org.apache.lucene.analysis.en; Porter's
// 1980 algorithm in Martin Porter's release 3 form, with its step numbering 1-6 and the
// -logi/-bli rules). Like Lucene it works on UTF-16 code units; anything but a, e, i, o, u
// (and y after a consonant) is a consonant, and words of at most two units are unchanged.
func Porter(word string) string {
	ascii := true
	for i := 0; i < len(word); i++ {
		if word[i] >= 0x80 {
			ascii = false
			break
		}
	}
	var b []uint16
	if ascii {
		b = make([]uint16, len(word))
		for i := 0; i < len(word); i++ {
			b[i] = uint16(word[i])
		}
	} else {
		b = utf16.Encode([]rune(word))
	}
	p := porter{b: b, k: len(b) - 1}
	if p.k > 1 {
		p.step1()
		p.step2()
		p.step3()
		p.step4()
		p.step5()
		p.step6()
	}
	b = p.b[:p.k+1]
	if ascii {
		out := make([]byte, len(b))
		for i, c := range b {
			out[i] = byte(c)
		}
		return string(out)
	}
	return string(utf16.Decode(b))
}

// porter holds the word b[0..k] and j, the end of the stem before a matched suffix.
type porter struct {
	b    []uint16
	j, k int
}

// cons reports whether b[i] is a consonant.
func (p *porter) cons(i int) bool {
	switch p.b[i] {
	case 'a', 'e', 'i', 'o', 'u':
		return false
	case 'y':
		return i == 0 || !p.cons(i-1)
	}
	return true
}

// m counts the vowel-consonant sequences in b[0..j].
func (p *porter) m() int {
	n, i := 0, 0
	for ; ; i++ {
		if i > p.j {
			return n
		}
		if !p.cons(i) {
			break
		}
	}
	i++
	for {
		for ; ; i++ {
			if i > p.j {
				return n
			}
			if p.cons(i) {
				break
			}
		}
		i++
		n++
		for ; ; i++ {
			if i > p.j {
				return n
			}
			if !p.cons(i) {
				break
			}
		}
		i++
	}
}

func (p *porter) vowelInStem() bool {
	for i := 0; i <= p.j; i++ {
		if !p.cons(i) {
			return true
		}
	}
	return false
}

func (p *porter) doubleC(j int) bool {
	return j >= 1 && p.b[j] == p.b[j-1] && p.cons(j)
}

// cvc: b[i-2..i] is consonant-vowel-consonant and b[i] is not w, x or y.
func (p *porter) cvc(i int) bool {
	if i < 2 || !p.cons(i) || p.cons(i-1) || !p.cons(i-2) {
		return false
	}
	c := p.b[i]
	return c != 'w' && c != 'x' && c != 'y'
}

// ends reports whether b[..k] ends with s and sets j to the end of the rest.
func (p *porter) ends(s string) bool {
	o := p.k - len(s) + 1
	if o < 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if p.b[o+i] != uint16(s[i]) {
			return false
		}
	}
	p.j = p.k - len(s)
	return true
}

// setTo replaces b[j+1..k] by s.
func (p *porter) setTo(s string) {
	p.b = p.b[:p.j+1]
	for i := 0; i < len(s); i++ {
		p.b = append(p.b, uint16(s[i]))
	}
	p.k = p.j + len(s)
}

func (p *porter) r(s string) {
	if p.m() > 0 {
		p.setTo(s)
	}
}

// step1 removes plurals and -ed, -ing.
func (p *porter) step1() {
	if p.b[p.k] == 's' {
		switch {
		case p.ends("sses"):
			p.k -= 2
		case p.ends("ies"):
			p.setTo("i")
		case p.b[p.k-1] != 's':
			p.k--
		}
	}
	if p.ends("eed") {
		if p.m() > 0 {
			p.k--
		}
	} else if (p.ends("ed") || p.ends("ing")) && p.vowelInStem() {
		p.k = p.j
		switch {
		case p.ends("at"):
			p.setTo("ate")
		case p.ends("bl"):
			p.setTo("ble")
		case p.ends("iz"):
			p.setTo("ize")
		case p.doubleC(p.k):
			c := p.b[p.k]
			p.k--
			if c == 'l' || c == 's' || c == 'z' {
				p.k++
			}
		default:
			if p.m() == 1 && p.cvc(p.k) {
				p.setTo("e")
			}
		}
	}
}

// step2 turns a terminal y into i when the stem has a vowel.
func (p *porter) step2() {
	if p.ends("y") && p.vowelInStem() {
		p.b[p.k] = 'i'
	}
}

// porterRule is one (suffix, replacement) pair; the first matching suffix of a group is the
// only one tried.
type porterRule struct{ suf, to string }

var porterStep3 = map[uint16][]porterRule{
	'a': {{"ational", "ate"}, {"tional", "tion"}},
	'c': {{"enci", "ence"}, {"anci", "ance"}},
	'e': {{"izer", "ize"}},
	'l': {{"bli", "ble"}, {"alli", "al"}, {"entli", "ent"}, {"eli", "e"}, {"ousli", "ous"}},
	'o': {{"ization", "ize"}, {"ation", "ate"}, {"ator", "ate"}},
	's': {{"alism", "al"}, {"iveness", "ive"}, {"fulness", "ful"}, {"ousness", "ous"}},
	't': {{"aliti", "al"}, {"iviti", "ive"}, {"biliti", "ble"}},
	'g': {{"logi", "log"}},
}

var porterStep4 = map[uint16][]porterRule{
	'e': {{"icate", "ic"}, {"ative", ""}, {"alize", "al"}},
	'i': {{"iciti", "ic"}},
	'l': {{"ical", "ic"}, {"ful", ""}},
	's': {{"ness", ""}},
}

func (p *porter) applyFirst(rules []porterRule) {
	for _, ru := range rules {
		if p.ends(ru.suf) {
			p.r(ru.to)
			return
		}
	}
}

// step3 maps double suffixes to single ones (-ization -> -ize ...), keyed on the
// penultimate letter.
func (p *porter) step3() {
	if p.k == 0 {
		return
	}
	p.applyFirst(porterStep3[p.b[p.k-1]])
}

// step4 handles -ic-, -full, -ness ..., keyed on the last letter.
func (p *porter) step4() {
	p.applyFirst(porterStep4[p.b[p.k]])
}

var porterStep5 = map[uint16][]string{
	'a': {"al"}, 'c': {"ance", "ence"}, 'e': {"er"}, 'i': {"ic"}, 'l': {"able", "ible"},
	'n': {"ant", "ement", "ment", "ent"}, 's': {"ism"}, 't': {"ate", "iti"}, 'u': {"ous"},
	'v': {"ive"}, 'z': {"ize"},
}

// step5 removes -ant, -ence ... when m() > 1.
func (p *porter) step5() {
	if p.k == 0 {
		return
	}
	c := p.b[p.k-1]
	matched := false
	if c == 'o' {
		if p.ends("ion") && p.j >= 0 && (p.b[p.j] == 's' || p.b[p.j] == 't') {
			matched = true
		} else if p.ends("ou") {
			matched = true
		}
	} else {
		for _, s := range porterStep5[c] {
			if p.ends(s) {
				matched = true
				break
			}
		}
	}
	if matched && p.m() > 1 {
		p.k = p.j
	}
}

// step6 removes a final -e when m() > 1 (or m() == 1 and not cvc), and -ll to -l when m() > 1.
func (p *porter) step6() {
	p.j = p.k
	if p.b[p.k] == 'e' {
		a := p.m()
		if a > 1 || a == 1 && !p.cvc(p.k-1) {
			p.k--
		}
	}
	if p.b[p.k] == 'l' && p.doubleC(p.k) && p.m() > 1 {
		p.k--
	}
}
