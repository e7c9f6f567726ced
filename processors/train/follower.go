package train

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/lsrflow/lsrflow/retrieval"
	"github.com/lsrflow/lsrflow/retrieval/adapter"
	"github.com/lsrflow/lsrflow/retrieval/dense"
	"github.com/lsrflow/lsrflow/retrieval/hybrid"
	"github.com/lsrflow/lsrflow/streams"
)

// Swapper is what the follower updates (processors/retrieve.Processor).
type Swapper interface {
	Swap(r retrieval.Retriever)
}

// VersionedSwapper swaps only forward: r replaces the retriever in use only when version is
// newer than the one in use (processors/retrieve.Processor implements it).
type VersionedSwapper interface {
	SwapIfNewer(r retrieval.Retriever, version int) bool
}

// Follower applies published adapter updates to a retrieve processor. See the package doc.
type Follower struct {
	Sub   streams.Subscriber
	Topic string
	// Group must be unique per retrieve process (every process applies every update).
	Group string
	Base  *dense.Retriever
	// Lexical, when set, serves every version as a hybrid of it and the adapted dense
	// retriever: fused as the checkpoint was trained for (its Serving), else with Hybrid.
	Lexical retrieval.Retriever
	Hybrid  hybrid.Options
	Target  Swapper
	// OnSwap is called after each swap.
	OnSwap func(u Update, r retrieval.Retriever)
	Log    *slog.Logger

	mu      sync.Mutex
	version int
}

// Version is the version currently swapped in (0: none).
func (f *Follower) Version() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.version
}

// DecodeUpdate parses an update record.
func DecodeUpdate(b []byte) (Update, error) {
	var u Update
	if err := json.Unmarshal(b, &u); err != nil {
		return u, fmt.Errorf("update: %w", err)
	}
	if u.SchemaVersion < 1 || u.SchemaVersion > UpdateVersion || u.Version <= 0 {
		return u, fmt.Errorf("update: schema_version %d / version %d not supported", u.SchemaVersion, u.Version)
	}
	return u, nil
}

// Apply loads u's checkpoint and swaps it in when it is newer than the current version. It
// reports whether it swapped.
func (f *Follower) Apply(u Update) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if u.Version <= f.version {
		return false, nil
	}
	b := u.Checkpoint
	if len(b) == 0 {
		var err error
		if b, err = os.ReadFile(u.Path); err != nil {
			return false, fmt.Errorf("update v%d: %w", u.Version, err)
		}
	}
	sum := sha256.Sum256(b)
	if got := hex.EncodeToString(sum[:]); got != u.SHA256 {
		return false, fmt.Errorf("update v%d: checkpoint sha256 %s, the update says %s", u.Version, got, u.SHA256)
	}
	a, _, err := adapter.Unmarshal(b)
	if err != nil {
		return false, fmt.Errorf("update v%d: %w", u.Version, err)
	}
	if a.Meta.Version != u.Version {
		return false, fmt.Errorf("update v%d carries checkpoint version %d", u.Version, a.Meta.Version)
	}
	r, err := adapter.Serve(f.Base, f.Lexical, a, f.Hybrid)
	if err != nil {
		return false, fmt.Errorf("update v%d: %w", u.Version, err)
	}
	if vs, ok := f.Target.(VersionedSwapper); ok {
		if !vs.SwapIfNewer(r, u.Version) {
			return false, nil // the target already serves a newer version
		}
	} else {
		f.Target.Swap(r)
	}
	f.version = u.Version
	if f.OnSwap != nil {
		f.OnSwap(u, r)
	}
	return true, nil
}

// Run follows the topic until ctx is done. A bad update is logged and skipped (the current
// adapter stays); it returns nil on cancellation.
func (f *Follower) Run(ctx context.Context) error {
	if f.Sub == nil || f.Base == nil || f.Target == nil || f.Topic == "" || f.Group == "" {
		return errors.New("follower: subscriber, topic, group, base retriever and target are required")
	}
	log := f.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cons, err := f.Sub.Subscribe(ctx, f.Topic, f.Group)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer cons.Close()
	for {
		m, err := cons.Fetch(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		u, err := DecodeUpdate(m.Value)
		if err == nil {
			var swapped bool
			swapped, err = f.Apply(u)
			if swapped {
				log.Info("retriever updated", "version", u.Version, "adapter", u.AdapterVersion, "metrics", u.Metrics)
			}
		}
		if err != nil {
			log.Warn("retriever update skipped", "offset", m.Offset, "err", err)
		}
		if err := cons.Commit(ctx, m); err != nil && ctx.Err() == nil {
			log.Warn("retriever update commit", "err", err)
		}
	}
}
