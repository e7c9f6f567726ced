package flashrag

import "sort"

// Use says what lsrflow does with a FlashRAG config key.
type Use int

const (
	// Unused keys are FlashRAG's but change nothing in lsrflow; they are listed once in a
	// warning when a config sets them.
	Unused Use = iota
	// Used keys are read with FlashRAG's meaning.
	Used
)

// Key is one top-level key FlashRAG knows.
type Key struct {
	Use Use
	// Note says how lsrflow reads the key, or why it does not.
	Note string
}

// Keys are the top-level keys of FlashRAG's flashrag/config/basic_config.yaml (the defaults
// every FlashRAG config is merged over) plus the top-level keys FlashRAG's code reads that
// the file leaves out (RUC-NLPIR/FlashRAG at 1ee52490).
var Keys = map[string]Key{
	// the dataset
	"data_dir":        {Used, "datasets are read from {data_dir}/{dataset_name}/{split}.jsonl"},
	"dataset_name":    {Used, "see data_dir; also names the run directory"},
	"split":           {Used, "every listed split is read (null: train, dev, test)"},
	"test_sample_num": {Used, "the first N rows of each split, or a random N with random_sample"},
	"random_sample":   {Used, "random.sample with Python's generator seeded by seed, as FlashRAG draws"},
	"seed":            {Used, "seeds the sample and the seed teacher's answer choice"},
	"dataset_path":    {Used, "FlashRAG sets it to {data_dir}/{dataset_name}; a config may not set both"},
	// outputs
	"save_dir":               {Used, "outputs go to {save_dir}/{dataset_name}_{timestamp}_{save_note}/"},
	"save_note":              {Used, "see save_dir"},
	"save_metric_score":      {Used, "writes metric_score.txt with FlashRAG's metric names"},
	"metric_setting":         {Used, "retrieval_recall_topk sets the k of metric_score.txt"},
	"metrics":                {Unused, "a synth run has no predictions: only retrieval metrics are computed"},
	"save_intermediate_data": {Unused, "lsrflow always writes scored.jsonl and dead-letters.jsonl"},
	"disable_save":           {Unused, "lsrflow always writes its outputs"},
	// retrieval
	"model2path":                 {Used, "maps retrieval_method and generator_model to a model; a retrieval model must be a local ONNX or Model2Vec directory"},
	"model2pooling":              {Used, "pooling by model name, first matching key in file order"},
	"method2index":               {Used, "index_path by retrieval_method when index_path is empty"},
	"retrieval_method":           {Used, "a model name resolved through model2path (bm25: BM25)"},
	"retrieval_model_path":       {Used, "the retrieval model directory (overrides model2path)"},
	"index_path":                 {Used, "a FAISS file ({method}_{faiss_type}.index) whose row i is corpus row i, or an lsrflow index directory"},
	"corpus_path":                {Used, "the corpus jsonl the index rows refer to"},
	"instruction":                {Used, "prefix for queries and passages (replaces the e5/bge defaults)"},
	"retrieval_topk":             {Used, "passages per query"},
	"retrieval_query_max_length": {Used, "token cap for queries"},
	"retrieval_pooling_method":   {Used, "pooling (overrides model2pooling)"},
	"bm25_backend":               {Used, "selects the BM25 analyzer: bm25s (queries unstemmed, as FlashRAG's bm25s retriever; see bm25_query_analyzer) or pyserini (Lucene English)"},
	"retrieval_batch_size":       {Unused, "lsrflow batches queries itself"},
	"retrieval_use_fp16":         {Unused, "lsrflow encodes in float32"},
	"faiss_gpu":                  {Unused, "lsrflow searches FAISS on the CPU"},
	"gpu_id":                     {Unused, "no GPU is used"},
	"save_retrieval_cache":       {Unused, "candidates are kept in scored.jsonl"},
	"use_retrieval_cache":        {Unused, "re-running resumes instead"},
	"retrieval_cache_path":       {Unused, "re-running resumes instead"},
	"use_sentence_transformer":   {Unused, "the model directory's own files decide"},
	"silent_retrieval":           {Unused, "progress goes to stderr"},
	"multimodal_index_path_dict": {Unused, "text retrieval only"},
	"seismic_query_cut":          {Unused, "no SPLADE/seismic retrieval"},
	"seismic_heap_factor":        {Unused, "no SPLADE/seismic retrieval"},
	"seismic_max_tokens_length":  {Unused, "no SPLADE/seismic retrieval"},
	"use_reranker":               {Unused, "no reranker stage"},
	"rerank_model_name":          {Unused, "no reranker stage"},
	"rerank_model_path":          {Unused, "no reranker stage"},
	"rerank_pooling_method":      {Unused, "no reranker stage"},
	"rerank_topk":                {Unused, "no reranker stage"},
	"rerank_max_length":          {Unused, "no reranker stage"},
	"rerank_batch_size":          {Unused, "no reranker stage"},
	"rerank_use_fp16":            {Unused, "no reranker stage"},
	"use_multi_retriever":        {Unused, "one retriever per run (lsrflow's hybrid method fuses BM25 and dense)"},
	"multi_retriever_setting":    {Unused, "one retriever per run"},
	"serper_api_key":             {Unused, "no web search"},
	"serper_gl":                  {Unused, "no web search"},
	"serper_hl":                  {Unused, "no web search"},
	"serper_location":            {Unused, "no web search"},
	"serper_search_type":         {Unused, "no web search"},
	// the generator (the teacher's LM)
	"generator_model":         {Used, "names the teacher's LM (through model2path)"},
	"generator_model_path":    {Used, "the teacher's model name on the server; a local directory's tokenizer_config.json picks the chat template"},
	"framework":               {Used, "openai: openai_setting.base_url is the default LM server"},
	"openai_setting":          {Used, "base_url is the default LM server when framework is openai"},
	"is_reasoning":            {Used, "marks a chat model, as FlashRAG's PromptTemplate reads it"},
	"generator_max_input_len": {Unused, "prompts that overflow the LM's context are cut by lsrflow's own rule"},
	"generator_batch_size":    {Unused, "the LM client batches itself"},
	"generation_params":       {Unused, "the teachers score; they do not sample"},
	"use_fid":                 {Unused, "decoder-only LMs only"},
	"gpu_memory_utilization":  {Unused, "the LM runs in its own server"},
	"generator_lora_path":     {Unused, "the LM runs in its own server"},
	"device":                  {Unused, "set by FlashRAG itself"},
	"gpu_num":                 {Unused, "set by FlashRAG itself"},
	// FlashRAG pipelines lsrflow does not run
	"refiner_name":              {Unused, "no refiner"},
	"refiner_model_path":        {Unused, "no refiner"},
	"refiner_pooling_method":    {Unused, "no refiner"},
	"refiner_topk":              {Unused, "no refiner"},
	"refiner_encode_max_length": {Unused, "no refiner"},
	"refiner_max_input_length":  {Unused, "no refiner"},
	"refiner_max_output_length": {Unused, "no refiner"},
	"refiner_mini_batch_size":   {Unused, "no refiner"},
	"refiner_input_prompt_flag": {Unused, "no refiner"},
	"llmlingua_config":          {Unused, "no refiner"},
	"sc_config":                 {Unused, "no refiner"},
	"trace_config":              {Unused, "no refiner"},
	"judger_name":               {Unused, "no judger"},
	"judger_config":             {Unused, "no judger"},
	"task_desc":                 {Unused, "no reasoning pipeline"},
}

// IsKey reports whether FlashRAG knows the top-level key k.
func IsKey(k string) bool {
	_, ok := Keys[k]
	return ok
}

// KeyNames lists the keys, sorted.
func KeyNames() []string {
	out := make([]string, 0, len(Keys))
	for k := range Keys {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
