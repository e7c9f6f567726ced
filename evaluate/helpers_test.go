package evaluate

import (
	"strconv"

	"github.com/lsrflow/lsrflow/schemas"
)

func itoa(k int) string { return strconv.Itoa(k) }

func docOf(contents string) schemas.Passage { return schemas.Passage{ID: "d", Contents: contents} }
