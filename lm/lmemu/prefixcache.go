package lmemu

// prefixCache emulates vLLM's automatic prefix caching with the prompt-logprobs bug of
// vllm-project/vllm issue 42019 (fixed by PR 42245, torch.empty -> torch.zeros for the
// prompt-logprobs output buffer): positions whose logits come from cached blocks are not
// computed, and what the response reports for them is whatever the buffer held from an
// earlier request.
//
// Caching is by full blocks of BlockSize tokens, each block keyed by its tokens and its
// parent block's key (vllm/v1/core/kv_cache_utils.py hash_block_tokens), and a hit never
// covers the last prompt token, which is always recomputed to get logits
// (vllm/v1/core/kv_cache_manager.py get_computed_blocks: max cache hit length is
// num_tokens - 1).
type prefixCache struct {
	blocks  map[uint64]bool
	scratch []float64 // the reused prompt-logprobs output buffer, by position
}

// BlockSize is vLLM's default --block-size.
const BlockSize = 16

func newPrefixCache() *prefixCache { return &prefixCache{blocks: map[uint64]bool{}} }

func blockKey(parent uint64, block []int) uint64 {
	h := HashStep(parent^0x5bd1e995, len(block))
	for _, id := range block {
		h = HashStep(h, id)
	}
	return h
}

// apply overwrites the log-probabilities of cached positions with the stale buffer, then
// records the request's blocks and buffer.
func (c *prefixCache) apply(ids []int, lps []float64) {
	var keys []uint64
	parent := uint64(0)
	for end := BlockSize; end <= len(ids); end += BlockSize {
		parent = blockKey(parent, ids[end-BlockSize:end])
		keys = append(keys, parent)
	}
	cached := 0
	for k, key := range keys {
		if !c.blocks[key] || (k+1)*BlockSize > len(ids)-1 {
			break
		}
		cached = (k + 1) * BlockSize
	}
	for j := 1; j <= cached && j < len(lps); j++ {
		if j < len(c.scratch) {
			lps[j] = c.scratch[j]
		} else {
			lps[j] = 0 // a fresh buffer
		}
	}
	for _, key := range keys {
		c.blocks[key] = true
	}
	if len(c.scratch) < len(lps) {
		c.scratch = append(c.scratch, make([]float64, len(lps)-len(c.scratch))...)
	}
	copy(c.scratch, lps)
}
