// Package tokenizer loads Hugging Face tokenizer.json files and encodes text into the token ids,
// attention masks and type ids that embedding models consume.
//
// It implements the pieces that sentence encoders and Model2Vec models use:
//
//   - normalizers: BertNormalizer (clean text, CJK spacing, accent stripping, lowercase),
//     Lowercase, StripAccents, NFD/NFC/NFKD/NFKC, Replace (string or regex), Strip, Prepend,
//     Sequence;
//   - pre-tokenizers: BertPreTokenizer, Whitespace, WhitespaceSplit, Metaspace, Sequence;
//   - models: WordPiece (greedy longest match with a continuation prefix, words longer than
//     max_input_chars_per_word become the unknown token) and Unigram (Viterbi over the piece
//     scores, unknown characters fused into one unknown token);
//   - post-processors: TemplateProcessing and BertProcessing (special tokens such as [CLS] and
//     [SEP]);
//   - added tokens that are not normalized (e.g. "[CLS]" typed in the text) are matched in the
//     raw text, leftmost-longest, before normalization, as Hugging Face does;
//   - truncation to a maximum length (special tokens included) and padding to the longest
//     sequence of a batch, with attention masks.
//
// Byte-level BPE is not implemented: Load returns an error naming the unsupported component
// type rather than encoding differently from Hugging Face.
//
// A Tokenizer is immutable after Load and safe for concurrent use.
//
// Parity: tokenizer_test.go compares the ids against a reference implementation written
// independently in Python from Hugging Face's documented algorithms (testdata/hfref.py; no
// Hugging Face tokenizers package is installable on this machine) on a table of tricky inputs,
// for a WordPiece BERT tokenizer and for the real Model2Vec Unigram tokenizer, plus cases whose
// ids were derived by hand from the vocabulary.
package tokenizer
