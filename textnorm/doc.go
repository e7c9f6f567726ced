// Package textnorm reproduces FlashRAG's answer normalization (normalize_answer, inherited
// from the SQuAD evaluation script) with Python 3 semantics, character for character:
//
//   - lower: Python's str.lower(), the full Unicode lowercase mapping ('İ' becomes "i̇", a
//     capital sigma in Final_Sigma context becomes 'ς', everything else as unicode.ToLower);
//   - remove_punc: drop the 32 ASCII characters of string.punctuation only ('¿', '—', '«'
//     stay);
//   - remove_articles: re.sub(r"\b(a|an|the)\b", " ", s) with Python's Unicode word
//     boundaries (\w = str.isalnum() or '_': letters and numbers of every script; combining
//     marks are NOT word characters, so in "the\u0301" the article is removed, while in
//     "éthe" it is not);
//   - white_space_fix: " ".join(s.split()), splitting on str.isspace() (U+00A0, U+2003, U+3000,
//     U+0085, U+001C..U+001F, ...), not on U+200B.
//
// The character tables are Go's (Unicode 15.0), which are Python 3.12's. Python 3.11 uses
// Unicode 14.0: the two differ only on the characters first assigned in Unicode 15. The tests
// check every other code point, and thousands of random strings, against /usr/bin/python3.
//
// Normalize, NormalizeAll and ContainsAny are used by the teachers (answer match) and by the
// evaluation metrics (package evaluate). Everything here is pure and safe for concurrent use.
package textnorm
