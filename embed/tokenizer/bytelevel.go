package tokenizer

import (
	"sync"
	"unicode/utf8"
)

// byteToRune is GPT-2's reversible byte-to-character table: the printable bytes ! to ~, ¡ to ¬
// and ® to ÿ map to themselves, every other byte, in increasing order, to U+0100, U+0101, ...
var byteToRune = func() [256]rune {
	var t [256]rune
	next := rune(256)
	for b := 0; b < 256; b++ {
		switch {
		case b >= '!' && b <= '~', b >= 0xA1 && b <= 0xAC, b >= 0xAE && b <= 0xFF:
			t[b] = rune(b)
		default:
			t[b] = next
			next++
		}
	}
	return t
}()

// runeToByte inverts byteToRune.
var runeToByte = func() map[rune]byte {
	m := make(map[rune]byte, 256)
	for b, r := range byteToRune {
		m[r] = byte(b)
	}
	return m
}()

// gpt2Pattern is the split pattern of GPT-2 that ByteLevel applies when use_regex is set.
const gpt2Pattern = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`

var gpt2Regex = sync.OnceValue(func() *hfRegex {
	re, err := compileRegex(gpt2Pattern)
	if err != nil {
		panic(err)
	}
	return re
})

// byteLevel is Hugging Face's ByteLevel pre-tokenizer: each piece gets a leading space when
// addPrefixSpace and it does not start with one, is split with the GPT-2 pattern when re is
// set, and every piece's UTF-8 bytes are then rewritten as byteToRune characters, each
// aligned to the input character the byte belongs to.
type byteLevel struct {
	addPrefixSpace bool
	re             *hfRegex
}

func (p byteLevel) split(pieces []nstr) []nstr {
	if p.addPrefixSpace {
		for i, n := range pieces {
			if n.s != "" && n.s[0] != ' ' {
				pieces[i] = prependNormalizer(" ").normalize(n)
			}
		}
	}
	if p.re != nil {
		pieces = splitPre{regexSplitter{re: p.re}, isolated}.split(pieces)
	}
	out := pieces[:0]
	for _, n := range pieces {
		if n.s == "" {
			continue
		}
		out = append(out, toByteLevel(n))
	}
	return out
}

// toByteLevel rewrites every byte as its byte-level character.
func toByteLevel(n nstr) nstr {
	b := make([]byte, 0, 2*len(n.s))
	al := make([]span, 0, 2*len(n.s))
	for i := 0; i < len(n.s); i++ {
		r := byteToRune[n.s[i]]
		if r < utf8.RuneSelf {
			b = append(b, byte(r))
			al = append(al, n.align[i])
			continue
		}
		b = utf8.AppendRune(b, r)
		al = append(al, n.align[i], n.align[i])
	}
	return nstr{s: string(b), align: al}
}
