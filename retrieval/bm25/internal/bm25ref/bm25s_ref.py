"""Reference for lsrflow's "bm25s" analyzer and scorer, written from bm25s' source
(bm25s/tokenization.py Tokenizer.streaming_tokenize, bm25s/stopwords.py STOPWORDS_EN,
bm25s/scoring.py method "lucene") with the real Snowball stemmer (PyStemmer, Debian
python3-stemmer). Line based; texts are base64 of UTF-8.

  bm25s_ref.py stem                words, one per line -> stems
  bm25s_ref.py analyze             base64 texts -> base64 terms, space separated
  bm25s_ref.py search K1 B K [flashrag]
                                   base64 docs, "--", base64 queries
                                   -> per query "ord:score" (repr) for the top K
Scores are computed in float64; ties are broken by the lower ordinal.

With "flashrag", queries take FlashRAG's bm25s query path instead of the index's analyzer:
flashrag/retriever/retriever.py (BM25Retriever._search / _batch_search, since FlashRAG
0a68454) calls bm25s.tokenize([query]) with its defaults, which at bm25s 0.2.1 (the version
FlashRAG pins) are lower=True, token_pattern (?u)\b\w\w+\b, stopwords "english", stemmer
None: the words are split and stopwords dropped, nothing is stemmed, and a query without
words gets no token at all (only the Tokenizer class adds ""). bm25s.BM25.retrieve turns the
Tokenized result back into strings (convert_tokenized_to_string_list) and keeps only those in
the index's vocabulary (get_tokens_ids), so an unstemmed word matches only a stem equal to it.
"""
import base64
import math
import re
import sys

import Stemmer

STOP = {
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is",
    "it", "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there",
    "these", "they", "this", "to", "was", "will", "with",
}
SPLIT = re.compile(r"(?u)\b\w\w+\b").findall
STEM = Stemmer.Stemmer("english")


def analyze(text):
    words = [w for w in SPLIT(text.lower()) if w not in STOP]
    terms = [STEM.stemWord(w) for w in words]
    return terms if terms else [""]


def analyze_flashrag_query(text):
    return [w for w in SPLIT(text.lower()) if w not in STOP]


def dec(line):
    return base64.b64decode(line).decode("utf-8")


def enc(s):
    return base64.b64encode(s.encode("utf-8")).decode("ascii")


def main():
    mode = sys.argv[1]
    lines = sys.stdin.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    out = []
    if mode == "stem":
        out = STEM.stemWords(lines)
    elif mode == "analyze":
        out = [" ".join(enc(t) for t in analyze(dec(l))) for l in lines]
    elif mode == "search":
        k1, b, k = float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
        query_terms = analyze
        if len(sys.argv) > 5:
            if sys.argv[5] != "flashrag":
                raise SystemExit("search K1 B K [flashrag]")
            query_terms = analyze_flashrag_query
        sep = lines.index("--")
        docs = [analyze(dec(l)) for l in lines[:sep]]
        n = len(docs)
        avgdl = sum(len(d) for d in docs) / n
        df, tfs = {}, []
        for d in docs:
            tf = {}
            for t in d:
                tf[t] = tf.get(t, 0) + 1
            tfs.append(tf)
            for t in tf:
                df[t] = df.get(t, 0) + 1
        postings = {}
        for i, tf in enumerate(tfs):
            for t, c in tf.items():
                postings.setdefault(t, []).append((i, c))
        for l in lines[sep + 1:]:
            scores = {}
            for t in query_terms(dec(l)):  # every occurrence of a query term adds its score
                if t not in df:
                    continue
                idf = math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5))
                for i, c in postings[t]:
                    norm = k1 * (1 - b + b * len(docs[i]) / avgdl)
                    scores[i] = scores.get(i, 0.0) + idf * c / (c + norm)
            top = sorted(scores.items(), key=lambda x: (-x[1], x[0]))[:k]
            out.append(" ".join("%d:%r" % (i, s) for i, s in top))
    else:
        raise SystemExit("mode: stem | analyze | search")
    sys.stdout.write("".join(x + "\n" for x in out))


main()
