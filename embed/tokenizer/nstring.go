package tokenizer

import "unicode/utf8"

// span is a byte range [start, end) of the original input text.
type span struct{ start, end int32 }

// nstr is text on its way through the pipeline (normalized, then pre-tokenized) that keeps,
// for every byte, the range of the original input character it came from. Slicing shares
// the arrays; every rewrite builds new ones. The token offsets of an Encoding come from it.
type nstr struct {
	s     string
	align []span
}

// newNstr wraps text that starts at byte base of the original input.
func newNstr(s string, base int) nstr {
	al := make([]span, len(s))
	for i := 0; i < len(s); {
		n := 1
		if s[i] >= utf8.RuneSelf {
			_, n = utf8.DecodeRuneInString(s[i:])
		}
		sp := span{int32(base + i), int32(base + i + n)}
		for j := i; j < i+n; j++ {
			al[j] = sp
		}
		i += n
	}
	return nstr{s: s, align: al}
}

func (n nstr) slice(i, j int) nstr { return nstr{s: n.s[i:j], align: n.align[i:j]} }

// origin is the original range of the bytes [i, j) (j > i).
func (n nstr) origin(i, j int) span { return span{n.align[i].start, n.align[j-1].end} }

// nbuild accumulates a rewritten nstr.
type nbuild struct {
	b  []byte
	al []span
}

func newNbuild(capacity int) *nbuild {
	return &nbuild{b: make([]byte, 0, capacity), al: make([]span, 0, capacity)}
}

// add appends s, every byte aligned to sp.
func (w *nbuild) add(s string, sp span) {
	w.b = append(w.b, s...)
	for range len(s) {
		w.al = append(w.al, sp)
	}
}

func (w *nbuild) addRune(r rune, sp span) {
	w.b = utf8.AppendRune(w.b, r)
	for len(w.al) < len(w.b) {
		w.al = append(w.al, sp)
	}
}

// copy appends n[i:j] with its alignment.
func (w *nbuild) copy(n nstr, i, j int) {
	w.b = append(w.b, n.s[i:j]...)
	w.al = append(w.al, n.align[i:j]...)
}

func (w *nbuild) done() nstr { return nstr{s: string(w.b), align: w.al} }

// mapRunes rewrites n character by character: f returns the replacement of r (keep true
// when r stays as is). Characters f replaces are aligned to the character they replace.
func mapRunes(n nstr, f func(r rune, w *nbuild, sp span) (keep bool)) nstr {
	var w *nbuild
	probe := &nbuild{}
	for i := 0; i < len(n.s); {
		r, size := rune(n.s[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(n.s[i:])
		}
		if w == nil {
			// Nothing changed so far: only start building at the first change.
			probe.b, probe.al = probe.b[:0], probe.al[:0]
			if f(r, probe, n.origin(i, i+size)) {
				i += size
				continue
			}
			w = newNbuild(len(n.s) + 8)
			w.copy(n, 0, i)
			w.b = append(w.b, probe.b...)
			w.al = append(w.al, probe.al...)
			i += size
			continue
		}
		if f(r, w, n.origin(i, i+size)) {
			w.copy(n, i, i+size)
		}
		i += size
	}
	if w == nil {
		return n
	}
	return w.done()
}
