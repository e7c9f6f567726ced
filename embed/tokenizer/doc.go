// Package tokenizer loads Hugging Face tokenizer.json files and encodes text into the token ids,
// attention masks and type ids that embedding models consume.
//
// It implements the pieces that sentence encoders and Model2Vec models use:
//
//   - normalizers: BertNormalizer (clean text, CJK spacing, accent stripping, lowercase),
//     Lowercase, StripAccents, NFD/NFC/NFKD/NFKC, Replace (string or regex), Strip, Prepend,
//     Sequence;
//   - pre-tokenizers: BertPreTokenizer, Whitespace, WhitespaceSplit, Metaspace, ByteLevel
//     (add_prefix_space, use_regex with the GPT-2 split pattern matched by hand since Go's regexp
//     has no lookahead, GPT-2's byte-to-character table), Sequence;
//   - models: WordPiece (greedy longest match with a continuation prefix, words longer than
//     max_input_chars_per_word become the unknown token) and Unigram (Viterbi over the piece
//     scores, unknown characters fused into one unknown token) and BPE (merges applied lowest
//     rank first, leftmost on ties, within each word; continuing_subword_prefix,
//     end_of_word_suffix, unk_token with fuse_unk, byte_fallback <0xXX> tokens, ignore_merges;
//     merges as "a b" strings or [a, b] pairs; a per-word cache), which with ByteLevel covers
//     GPT-2/RoBERTa-style byte-level BPE;
//   - post-processors: TemplateProcessing, BertProcessing and RobertaProcessing (special tokens
//     such as [CLS] and [SEP]), ByteLevel (offsets only, so a no-op for ids) and Sequence;
//   - added tokens that are not normalized (e.g. "[CLS]" typed in the text) are matched in the
//     raw text, leftmost-longest, before normalization, as Hugging Face does;
//   - truncation to a maximum length (special tokens included) and padding to the longest
//     sequence of a batch, with attention masks.
//
// Not implemented: BPE dropout, the Split pre-tokenizer (the patterns real models use need
// lookahead), WordLevel. Load returns an error naming the unsupported component type rather
// than encoding differently from Hugging Face.
//
// A Tokenizer is immutable after Load and safe for concurrent use.
//
// Parity: tokenizer_test.go compares the ids against a reference implementation written
// independently in Python from Hugging Face's documented algorithms (testdata/hfref.py; no
// Hugging Face tokenizers package is installable on this machine) on a table of tricky inputs,
// for a WordPiece BERT tokenizer, for the real Model2Vec Unigram tokenizer and for five small BPE
// tokenizers (byte-level GPT-2 and RoBERTa layouts, character BPE with prefix/suffix, unknown
// fusing and byte fallback) whose merges testdata/make_bpe_tokenizer.py learns from a short
// text, plus cases whose ids were derived by hand from the vocabulary and merges. The Python
// reference runs the GPT-2 pattern, lookahead included, with Python's regex engine and merges
// with a heap, where the Go code matches the pattern by hand and scans for the lowest rank.
package tokenizer
