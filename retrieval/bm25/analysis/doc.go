// Package analysis turns passage and query text into BM25 index terms. An Analyzer is chosen
// when an index is built; its name is stored in the index so that queries are analyzed the
// same way. The names are a stable contract (manifests, FlashRAG's bm25_backend mapping):
//
//   - "plain": lowercase runs of Unicode letters and digits (unicode.IsLetter/IsDigit,
//     strings.ToLower). No stopwords, no stemming. lsrflow's original tokenizer.
//   - "bm25s": the analyzer FlashRAG builds its bm25s index with (bm25s.tokenization.Tokenizer
//     with stopwords="en" and PyStemmer's "english" stemmer): Python's str.lower(), then
//     re.findall(r"(?u)\b\w\w+\b") (maximal runs of at least two Python word characters),
//     drop bm25s' 33 English stopwords (bm25s/stopwords.py STOPWORDS_EN), then the Snowball
//     English (Porter2) stemmer. A text with no token left becomes the single empty token "",
//     as bm25s' Tokenizer does with allow_empty=True (so its length is 1).
//   - "lucene": Pyserini's default analyzer, Anserini's DefaultEnglishAnalyzer
//     (io/anserini/analysis/DefaultEnglishAnalyzer.java, createComponents): Lucene's
//     StandardTokenizer (UAX#29 word breaks as in StandardTokenizerImpl.jflex), then
//     EnglishPossessiveFilter (drop a trailing 's, ’s or ＇s), LowerCaseFilter,
//     StopFilter with EnglishAnalyzer.ENGLISH_STOP_WORDS_SET (the same 33 words), and
//     PorterStemFilter (Lucene's PorterStemmer, Porter's 1980 algorithm in Martin Porter's
//     release 3 form).
//
// Queries are analyzed like the passages, except where a backend does otherwise and lsrflow is
// asked to reproduce it: "bm25s-unstemmed" (ForQueries) is FlashRAG's bm25s query path,
// bm25s.tokenize's defaults (the "bm25s" split and stopwords, no stemmer, no empty token),
// searched against a stemmed bm25s index.
//
// The stemmers are implemented here from the published algorithms: SnowballEnglish follows
// snowballstem.org's english.sbl (libstemmer 2.2), Porter follows Lucene's
// org.apache.lucene.analysis.en.PorterStemmer, which works on UTF-16 code units. Tests check
// both against the real libraries (PyStemmer from Debian's python3-stemmer, Lucene 8.7 jars
// from liblucene8-java) on every word of the QED corpus and the NQ questions and on GloVe's
// vocabulary, and the whole analyzers against bm25s' Python rules and Lucene's analyzer
// chain on the QED corpus and questions.
//
// Known differences: the StandardTokenizer here classifies characters with Go's Unicode 15
// tables (Lucene's grammar is generated for Unicode 9) and approximates the UAX#29 Word_Break
// classes from general categories and scripts; emoji sequences are recognised only for the
// Extended_Pictographic blocks listed in lucene.go. Python's \w is textnorm.IsWord.
//
// Analyzers are safe for concurrent use; Tokens allocates only its result (and a stem cache
// is per call site, see Stemmed).
package analysis
