package arrowipc

import (
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lsrflow/lsrflow/schemas"
)

// Metadata keys stored in every file this package and sinks/parquet write.
const (
	MetaSchemaVersion = "lsrflow.schema_version"
	MetaRecord        = "lsrflow.record"
	RecordScored      = "scored"
)

// Column names of the scored-record table, in file order.
const (
	ColSchemaVersion   = "schema_version"
	ColID              = "id"
	ColQuery           = "query"
	ColPos             = "pos"
	ColScores          = "scores"
	ColGoldenAnswers   = "golden_answers"
	ColPassageIDs      = "passage_ids"
	ColRetrieverScores = "retriever_scores"
	ColTeacherScores   = "teacher_scores"
	ColAnswerMatch     = "answer_match"
	ColNumRelevant     = "num_relevant"
	ColTeacherMethod   = "teacher_method"
	ColTeacherModel    = "teacher_model"
	ColTeacherTemp     = "teacher_temperature"
	ColTeacherXform    = "teacher_score_transform"
	ColTeacherCombine  = "teacher_combine"
	ColTeacherPrompt   = "teacher_prompt_hash"
	ColTeacherPrec     = "teacher_precision"
	ColTeacherKey      = "teacher_key"
	ColRetrieverMethod = "retriever_method"
	ColRetrieverVer    = "retriever_version"
	ColSource          = "source"
	ColTruncated       = "truncated"
)

var (
	listString = arrow.ListOf(arrow.BinaryTypes.String)
	listDouble = arrow.ListOf(arrow.PrimitiveTypes.Float64)
	listBool   = arrow.ListOf(arrow.FixedWidthTypes.Boolean)
)

// Schema returns the Arrow schema of scored records, with the schema version in its metadata.
// List columns are nullable: a nil Go slice is stored as null and an empty one as [], so that
// reading back gives the very same value.
func Schema() *arrow.Schema {
	str := arrow.BinaryTypes.String
	md := arrow.NewMetadata(
		[]string{MetaSchemaVersion, MetaRecord},
		[]string{strconv.Itoa(schemas.ScoredVersion), RecordScored})
	return arrow.NewSchema([]arrow.Field{
		{Name: ColSchemaVersion, Type: arrow.PrimitiveTypes.Int32},
		{Name: ColID, Type: str},
		{Name: ColQuery, Type: str},
		{Name: ColPos, Type: listString, Nullable: true},
		{Name: ColScores, Type: listDouble, Nullable: true},
		{Name: ColGoldenAnswers, Type: listString, Nullable: true},
		{Name: ColPassageIDs, Type: listString, Nullable: true},
		{Name: ColRetrieverScores, Type: listDouble, Nullable: true},
		{Name: ColTeacherScores, Type: listDouble, Nullable: true},
		{Name: ColAnswerMatch, Type: listBool, Nullable: true},
		{Name: ColNumRelevant, Type: arrow.PrimitiveTypes.Int32},
		{Name: ColTeacherMethod, Type: str},
		{Name: ColTeacherModel, Type: str},
		{Name: ColTeacherTemp, Type: arrow.PrimitiveTypes.Float64},
		{Name: ColTeacherXform, Type: str},
		{Name: ColTeacherCombine, Type: str},
		{Name: ColTeacherPrompt, Type: str},
		{Name: ColTeacherPrec, Type: str},
		{Name: ColTeacherKey, Type: str},
		{Name: ColRetrieverMethod, Type: str},
		{Name: ColRetrieverVer, Type: str},
		{Name: ColSource, Type: str},
		{Name: ColTruncated, Type: arrow.PrimitiveTypes.Int32},
	}, &md)
}

// Builder accumulates scored records into Arrow record batches. Not safe for concurrent use.
type Builder struct {
	b *array.RecordBuilder
	n int
}

// NewBuilder starts an empty batch (mem nil: the Go allocator).
func NewBuilder(mem memory.Allocator) *Builder {
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	return &Builder{b: array.NewRecordBuilder(mem, Schema())}
}

// Len is the number of records appended since the last NewBatch.
func (b *Builder) Len() int { return b.n }

// Append adds one record.
func (b *Builder) Append(s schemas.Scored) {
	f := b.b.Fields()
	i := 0
	next := func() array.Builder { x := f[i]; i++; return x }
	next().(*array.Int32Builder).Append(int32(s.SchemaVersion))
	next().(*array.StringBuilder).Append(s.ID)
	next().(*array.StringBuilder).Append(s.Query)
	appendStrings(next(), s.Pos)
	appendFloats(next(), s.Scores)
	appendStrings(next(), s.GoldenAnswers)
	appendStrings(next(), s.PassageIDs)
	appendFloats(next(), s.RetrieverScores)
	appendFloats(next(), s.TeacherScores)
	appendBools(next(), s.AnswerMatch)
	next().(*array.Int32Builder).Append(int32(s.NumRelevant))
	next().(*array.StringBuilder).Append(s.Teacher.Method)
	next().(*array.StringBuilder).Append(s.Teacher.Model)
	next().(*array.Float64Builder).Append(s.Teacher.Temperature)
	next().(*array.StringBuilder).Append(s.Teacher.ScoreTransform)
	next().(*array.StringBuilder).Append(s.Teacher.Combine)
	next().(*array.StringBuilder).Append(s.Teacher.PromptHash)
	next().(*array.StringBuilder).Append(s.Teacher.Precision)
	next().(*array.StringBuilder).Append(s.TeacherKey)
	next().(*array.StringBuilder).Append(s.Retriever.Method)
	next().(*array.StringBuilder).Append(s.Retriever.Version)
	next().(*array.StringBuilder).Append(s.Source)
	next().(*array.Int32Builder).Append(int32(s.Truncated))
	b.n++
}

// NewBatch returns the records appended so far as one batch (the caller releases it) and
// resets the builder.
func (b *Builder) NewBatch() arrow.RecordBatch {
	b.n = 0
	return b.b.NewRecordBatch()
}

// Release frees the builder's buffers.
func (b *Builder) Release() { b.b.Release() }

func appendStrings(ab array.Builder, v []string) {
	lb := ab.(*array.ListBuilder)
	if v == nil {
		lb.AppendNull()
		return
	}
	lb.Append(true)
	vb := lb.ValueBuilder().(*array.StringBuilder)
	for _, x := range v {
		vb.Append(x)
	}
}

func appendFloats(ab array.Builder, v []float64) {
	lb := ab.(*array.ListBuilder)
	if v == nil {
		lb.AppendNull()
		return
	}
	lb.Append(true)
	lb.ValueBuilder().(*array.Float64Builder).AppendValues(v, nil)
}

func appendBools(ab array.Builder, v []bool) {
	lb := ab.(*array.ListBuilder)
	if v == nil {
		lb.AppendNull()
		return
	}
	lb.Append(true)
	lb.ValueBuilder().(*array.BooleanBuilder).AppendValues(v, nil)
}

// CheckVersion reads the schema version from file metadata (md may be nil for files written
// before versions were stored: version 1) and rejects versions newer than this build reads.
func CheckVersion(value string, found bool) (int, error) {
	if !found || value == "" {
		return 1, nil
	}
	v, err := strconv.Atoi(value)
	if err != nil {
		return 0, schemas.Errorf(schemas.ReasonVersion, "file schema version %q is not a number", value)
	}
	if v < 1 || v > schemas.ScoredVersion {
		return 0, schemas.Errorf(schemas.ReasonVersion, "file schema version %d is not supported (this build reads 1..%d)", v, schemas.ScoredVersion)
	}
	return v, nil
}

// Decode converts one record batch back into scored records. Columns are found by name, so
// files from older versions with fewer columns decode with zero values for what they lack;
// id and query are required. Unknown columns are ignored.
func Decode(rec arrow.RecordBatch) (out []schemas.Scored, err error) {
	defer recoverInto(&err)
	sc := rec.Schema()
	col := func(name string) arrow.Array {
		idx := sc.FieldIndices(name)
		if len(idx) == 0 {
			return nil
		}
		return rec.Column(idx[0])
	}
	if col(ColID) == nil || col(ColQuery) == nil {
		return nil, schemas.Errorf(schemas.ReasonInvalid, "table has no %q or %q column", ColID, ColQuery)
	}
	n := int(rec.NumRows())
	out = make([]schemas.Scored, n)
	type setter func(a arrow.Array, i int, s *schemas.Scored) error
	str := func(f func(s *schemas.Scored) *string) setter {
		return func(a arrow.Array, i int, s *schemas.Scored) error {
			v, err := stringAt(a, i)
			*f(s) = v
			return err
		}
	}
	integer := func(f func(s *schemas.Scored) *int) setter {
		return func(a arrow.Array, i int, s *schemas.Scored) error {
			v, err := intAt(a, i)
			*f(s) = v
			return err
		}
	}
	strs := func(f func(s *schemas.Scored) *[]string) setter {
		return func(a arrow.Array, i int, s *schemas.Scored) error {
			v, err := stringsAt(a, i)
			*f(s) = v
			return err
		}
	}
	floats := func(f func(s *schemas.Scored) *[]float64) setter {
		return func(a arrow.Array, i int, s *schemas.Scored) error {
			v, err := floatsAt(a, i)
			*f(s) = v
			return err
		}
	}
	setters := []struct {
		name string
		set  setter
	}{
		{ColSchemaVersion, integer(func(s *schemas.Scored) *int { return &s.SchemaVersion })},
		{ColID, str(func(s *schemas.Scored) *string { return &s.ID })},
		{ColQuery, str(func(s *schemas.Scored) *string { return &s.Query })},
		{ColPos, strs(func(s *schemas.Scored) *[]string { return &s.Pos })},
		{ColScores, floats(func(s *schemas.Scored) *[]float64 { return &s.Scores })},
		{ColGoldenAnswers, strs(func(s *schemas.Scored) *[]string { return &s.GoldenAnswers })},
		{ColPassageIDs, strs(func(s *schemas.Scored) *[]string { return &s.PassageIDs })},
		{ColRetrieverScores, floats(func(s *schemas.Scored) *[]float64 { return &s.RetrieverScores })},
		{ColTeacherScores, floats(func(s *schemas.Scored) *[]float64 { return &s.TeacherScores })},
		{ColAnswerMatch, func(a arrow.Array, i int, s *schemas.Scored) error {
			v, err := boolsAt(a, i)
			s.AnswerMatch = v
			return err
		}},
		{ColNumRelevant, integer(func(s *schemas.Scored) *int { return &s.NumRelevant })},
		{ColTeacherMethod, str(func(s *schemas.Scored) *string { return &s.Teacher.Method })},
		{ColTeacherModel, str(func(s *schemas.Scored) *string { return &s.Teacher.Model })},
		{ColTeacherTemp, func(a arrow.Array, i int, s *schemas.Scored) error {
			v, err := floatAt(a, i)
			s.Teacher.Temperature = v
			return err
		}},
		{ColTeacherXform, str(func(s *schemas.Scored) *string { return &s.Teacher.ScoreTransform })},
		{ColTeacherCombine, str(func(s *schemas.Scored) *string { return &s.Teacher.Combine })},
		{ColTeacherPrompt, str(func(s *schemas.Scored) *string { return &s.Teacher.PromptHash })},
		{ColTeacherPrec, str(func(s *schemas.Scored) *string { return &s.Teacher.Precision })},
		{ColTeacherKey, str(func(s *schemas.Scored) *string { return &s.TeacherKey })},
		{ColRetrieverMethod, str(func(s *schemas.Scored) *string { return &s.Retriever.Method })},
		{ColRetrieverVer, str(func(s *schemas.Scored) *string { return &s.Retriever.Version })},
		{ColSource, str(func(s *schemas.Scored) *string { return &s.Source })},
		{ColTruncated, integer(func(s *schemas.Scored) *int { return &s.Truncated })},
	}
	for _, st := range setters {
		a := col(st.name)
		if a == nil {
			continue
		}
		if a.Len() < n {
			return nil, schemas.Errorf(schemas.ReasonInvalid, "column %q has %d rows, table has %d", st.name, a.Len(), n)
		}
		for i := range n {
			if err := st.set(a, i, &out[i]); err != nil {
				return nil, fmt.Errorf("column %q row %d: %w", st.name, i, err)
			}
		}
	}
	for i := range out {
		if out[i].SchemaVersion == 0 {
			out[i].SchemaVersion = schemas.ScoredVersion
		}
		if out[i].SchemaVersion < 0 || out[i].SchemaVersion > schemas.ScoredVersion {
			return nil, schemas.Errorf(schemas.ReasonVersion, "row %d has schema_version %d (this build reads 1..%d)", i, out[i].SchemaVersion, schemas.ScoredVersion)
		}
		if out[i].ID == "" {
			return nil, schemas.Errorf(schemas.ReasonInvalid, "row %d has an empty id", i)
		}
	}
	return out, nil
}

// recoverInto turns a panic inside arrow-go (malformed input can trigger index panics in the
// library) into an error, so that bad files never crash the process.
func recoverInto(err *error) {
	if r := recover(); r != nil {
		*err = schemas.Errorf(schemas.ReasonInvalid, "malformed columnar data: %v (%s)", r, firstFrame(debug.Stack()))
	}
}

func firstFrame(stack []byte) string {
	if len(stack) > 300 {
		stack = stack[:300]
	}
	return string(stack)
}

var errType = errors.New("unexpected column type")

func stringAt(a arrow.Array, i int) (string, error) {
	switch c := a.(type) {
	case *array.String:
		return c.Value(i), nil
	case *array.LargeString:
		return c.Value(i), nil
	case *array.Binary:
		return string(c.Value(i)), nil
	}
	return "", fmt.Errorf("%w %s, want string", errType, a.DataType())
}

func intAt(a arrow.Array, i int) (int, error) {
	if a.IsNull(i) {
		return 0, nil
	}
	switch c := a.(type) {
	case *array.Int32:
		return int(c.Value(i)), nil
	case *array.Int64:
		return int(c.Value(i)), nil
	}
	return 0, fmt.Errorf("%w %s, want integer", errType, a.DataType())
}

func floatAt(a arrow.Array, i int) (float64, error) {
	if a.IsNull(i) {
		return 0, nil
	}
	switch c := a.(type) {
	case *array.Float64:
		return c.Value(i), nil
	case *array.Float32:
		return float64(c.Value(i)), nil
	}
	return 0, fmt.Errorf("%w %s, want float", errType, a.DataType())
}

// listRange returns the child array and the [start,end) range of list i, or ok=false for null.
func listRange(a arrow.Array, i int) (arrow.Array, int, int, bool, error) {
	switch c := a.(type) {
	case *array.List:
		if c.IsNull(i) {
			return nil, 0, 0, false, nil
		}
		s, e := c.ValueOffsets(i)
		return c.ListValues(), int(s), int(e), true, nil
	case *array.LargeList:
		if c.IsNull(i) {
			return nil, 0, 0, false, nil
		}
		s, e := c.ValueOffsets(i)
		return c.ListValues(), int(s), int(e), true, nil
	}
	return nil, 0, 0, false, fmt.Errorf("%w %s, want list", errType, a.DataType())
}

func stringsAt(a arrow.Array, i int) ([]string, error) {
	vals, s, e, ok, err := listRange(a, i)
	if err != nil || !ok {
		return nil, err
	}
	if s < 0 || e < s || e > vals.Len() {
		return nil, schemas.Errorf(schemas.ReasonInvalid, "list offsets [%d,%d) out of range", s, e)
	}
	out := make([]string, 0, e-s)
	for j := s; j < e; j++ {
		v, err := stringAt(vals, j)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func floatsAt(a arrow.Array, i int) ([]float64, error) {
	vals, s, e, ok, err := listRange(a, i)
	if err != nil || !ok {
		return nil, err
	}
	if s < 0 || e < s || e > vals.Len() {
		return nil, schemas.Errorf(schemas.ReasonInvalid, "list offsets [%d,%d) out of range", s, e)
	}
	out := make([]float64, 0, e-s)
	for j := s; j < e; j++ {
		v, err := floatAt(vals, j)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func boolsAt(a arrow.Array, i int) ([]bool, error) {
	vals, s, e, ok, err := listRange(a, i)
	if err != nil || !ok {
		return nil, err
	}
	b, isBool := vals.(*array.Boolean)
	if !isBool {
		return nil, fmt.Errorf("%w %s, want bool", errType, vals.DataType())
	}
	if s < 0 || e < s || e > vals.Len() {
		return nil, schemas.Errorf(schemas.ReasonInvalid, "list offsets [%d,%d) out of range", s, e)
	}
	out := make([]bool, 0, e-s)
	for j := s; j < e; j++ {
		out = append(out, b.Value(j))
	}
	return out, nil
}
