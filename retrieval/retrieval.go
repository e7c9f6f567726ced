package retrieval

import (
	"context"

	"github.com/lsrflow/lsrflow/schemas"
)

// Retriever finds the top-k passages of a question. Implementations are safe for concurrent use.
type Retriever interface {
	// Search returns at most k passages, best first, each with its retriever score.
	Search(ctx context.Context, question string, k int) ([]schemas.Passage, error)
	// Info names the method and the version of the model behind it (stamped on candidates).
	Info() schemas.RetrieverInfo
}

// BatchRetriever is implemented by retrievers that search many questions more cheaply at once
// (dense retrievers batch the query embeddings and the index search).
type BatchRetriever interface {
	Retriever
	SearchBatch(ctx context.Context, questions []string, k int) ([][]schemas.Passage, error)
}

// InfoSearcher is implemented by retrievers whose model can change while they serve (a dense
// retriever with a hot-swapped query adapter): SearchInfo returns the results together with
// the exact version that produced them, which a separate Info call could misreport.
type InfoSearcher interface {
	SearchInfo(ctx context.Context, questions []string, k int) ([][]schemas.Passage, schemas.RetrieverInfo, error)
}
