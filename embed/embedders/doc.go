// Package embedders opens an embed.Embedder from a spec string, as the CLI's --embedder flag
// takes it:
//
//	model2vec:DIR           Model2Vec static model (embed/model2vec)
//	onnx:DIR                ONNX transformer encoder (embed/onnx)
//	openai:URL[#MODEL]      OpenAI-compatible /v1/embeddings server (embed/httpembed)
//
// Other schemes (e.g. "glove" or "glove:DIR" for static word vectors) are plugged in through
// Options.Openers, keyed by scheme, so that this package does not import every backend and
// backends can depend on embed without a cycle. A spec without a colon is a bare scheme.
// Unknown schemes fail with one error listing the accepted forms.
//
// It lives apart from package embed because it imports the backends, which import embed.
package embedders
