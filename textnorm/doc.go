// Package textnorm reproduces FlashRAG's answer normalization (SQuAD's normalize_answer) with
// Python semantics, character for character: Unicode-aware str.lower() (final sigma, 'İ'),
// removal of the ASCII characters of string.punctuation only, the articles a/an/the removed
// between Unicode word boundaries, and whitespace split on Unicode whitespace.
package textnorm
