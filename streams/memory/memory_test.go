package memory_test

import (
	"testing"

	"github.com/lsrflow/lsrflow/streams"
	"github.com/lsrflow/lsrflow/streams/memory"
	"github.com/lsrflow/lsrflow/streams/streamstest"
)

func TestContract(t *testing.T) {
	streamstest.Run(t, func(t *testing.T) streams.Transport { return memory.New() })
}
