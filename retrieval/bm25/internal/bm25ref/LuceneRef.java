// Reference runs of the real Lucene (Debian liblucene8-java) for the Go analyzers and BM25
// scorer in lsrflow's retrieval/bm25 packages. Input and output are line based; every text is
// base64 of its UTF-8 bytes so that newlines survive.
//
//   java LuceneRef stem      words (one per line)      -> PorterStemFilter output per line
//   java LuceneRef analyze   base64 texts              -> base64 tokens, space separated
//   java LuceneRef search K1 B K  base64 docs, a line "--", base64 queries
//                            -> per query: "ord:scorebits" for the top K, space separated
//
// The analyzer is the chain of Anserini's DefaultEnglishAnalyzer (Pyserini's default):
// StandardTokenizer, EnglishPossessiveFilter, LowerCaseFilter, StopFilter with Lucene's
// English stop set, PorterStemFilter. Queries are one SHOULD TermQuery per analyzed token, as
// Anserini's BagOfWordsQueryGenerator builds them, scored with BM25Similarity(k1, b).
import java.io.*;
import java.nio.charset.StandardCharsets;
import java.util.*;
import org.apache.lucene.analysis.*;
import org.apache.lucene.analysis.core.KeywordTokenizer;
import org.apache.lucene.analysis.en.*;
import org.apache.lucene.analysis.standard.StandardTokenizer;
import org.apache.lucene.analysis.tokenattributes.CharTermAttribute;
import org.apache.lucene.document.*;
import org.apache.lucene.index.*;
import org.apache.lucene.search.*;
import org.apache.lucene.search.similarities.BM25Similarity;
import org.apache.lucene.store.ByteBuffersDirectory;

public class LuceneRef {
  static final class EnglishChain extends Analyzer {
    @Override
    protected TokenStreamComponents createComponents(String field) {
      Tokenizer src = new StandardTokenizer();
      TokenStream ts = new EnglishPossessiveFilter(src);
      ts = new LowerCaseFilter(ts);
      ts = new StopFilter(ts, EnglishAnalyzer.ENGLISH_STOP_WORDS_SET);
      ts = new PorterStemFilter(ts);
      return new TokenStreamComponents(src, ts);
    }
  }

  static final class StemOnly extends Analyzer {
    @Override
    protected TokenStreamComponents createComponents(String field) {
      Tokenizer src = new KeywordTokenizer();
      return new TokenStreamComponents(src, new PorterStemFilter(src));
    }
  }

  static List<String> tokens(Analyzer a, String text) throws IOException {
    List<String> out = new ArrayList<>();
    try (TokenStream ts = a.tokenStream("contents", text)) {
      CharTermAttribute term = ts.addAttribute(CharTermAttribute.class);
      ts.reset();
      while (ts.incrementToken()) out.add(term.toString());
      ts.end();
    }
    return out;
  }

  static String dec(String b64) {
    return new String(Base64.getDecoder().decode(b64), StandardCharsets.UTF_8);
  }

  static String enc(String s) {
    return Base64.getEncoder().encodeToString(s.getBytes(StandardCharsets.UTF_8));
  }

  public static void main(String[] args) throws Exception {
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    PrintWriter out = new PrintWriter(new BufferedWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8)));
    String line;
    switch (args[0]) {
      case "stem": {
        Analyzer a = new StemOnly();
        while ((line = in.readLine()) != null) {
          List<String> t = tokens(a, line);
          out.println(t.isEmpty() ? "" : t.get(0));
        }
        break;
      }
      case "analyze": {
        Analyzer a = new EnglishChain();
        while ((line = in.readLine()) != null) {
          StringBuilder sb = new StringBuilder();
          for (String t : tokens(a, dec(line))) {
            if (sb.length() > 0) sb.append(' ');
            sb.append(enc(t));
          }
          out.println(sb);
        }
        break;
      }
      case "search": {
        float k1 = Float.parseFloat(args[1]), b = Float.parseFloat(args[2]);
        int k = Integer.parseInt(args[3]);
        Analyzer a = new EnglishChain();
        ByteBuffersDirectory dir = new ByteBuffersDirectory();
        IndexWriterConfig cfg = new IndexWriterConfig(a);
        cfg.setSimilarity(new BM25Similarity(k1, b));
        cfg.setRAMBufferSizeMB(512);
        cfg.setMergePolicy(new LogDocMergePolicy());
        int n = 0;
        try (IndexWriter w = new IndexWriter(dir, cfg)) {
          while ((line = in.readLine()) != null && !line.equals("--")) {
            Document d = new Document();
            d.add(new StoredField("ord", n++));
            d.add(new TextField("contents", dec(line), Field.Store.NO));
            w.addDocument(d);
          }
          w.forceMerge(1);
        }
        IndexSearcher s = new IndexSearcher(DirectoryReader.open(dir));
        s.setSimilarity(new BM25Similarity(k1, b));
        while ((line = in.readLine()) != null) {
          BooleanQuery.Builder q = new BooleanQuery.Builder();
          for (String t : tokens(a, dec(line))) q.add(new TermQuery(new Term("contents", t)), BooleanClause.Occur.SHOULD);
          StringBuilder sb = new StringBuilder();
          for (ScoreDoc sd : s.search(q.build(), k).scoreDocs) {
            int ord = s.doc(sd.doc).getField("ord").numericValue().intValue();
            if (sb.length() > 0) sb.append(' ');
            sb.append(ord).append(':').append(Integer.toHexString(Float.floatToIntBits(sd.score)));
          }
          out.println(sb);
        }
        break;
      }
      default:
        throw new IllegalArgumentException("mode: stem | analyze | search");
    }
    out.flush();
  }
}
