package tokenizer

import (
	"encoding/json"
	"fmt"
)

// postProcessor adds special tokens around a single sequence.
type postProcessor interface {
	added() int
	apply(ids []int, offs []Offset) (out, typeIDs []int, outOffs []Offset)
}

type templatePiece struct {
	special bool
	ids     []int // special token ids
	typeID  int
}

type template []templatePiece

func (tp template) added() int {
	n := 0
	for _, p := range tp {
		n += len(p.ids)
	}
	return n
}

func (tp template) apply(ids []int, offs []Offset) ([]int, []int, []Offset) {
	out := make([]int, 0, len(ids)+tp.added())
	types := make([]int, 0, cap(out))
	outOffs := make([]Offset, 0, cap(out))
	for _, p := range tp {
		if p.special {
			out = append(out, p.ids...)
			outOffs = append(outOffs, make([]Offset, len(p.ids))...)
		} else {
			out = append(out, ids...)
			outOffs = append(outOffs, offs...)
		}
		for len(types) < len(out) {
			types = append(types, p.typeID)
		}
	}
	return out, types, outOffs
}

// prefix is the special token ids the template puts before the sequence.
func (tp template) prefix() []int {
	var ids []int
	for _, p := range tp {
		if !p.special {
			break
		}
		ids = append(ids, p.ids...)
	}
	return ids
}

func parsePostProcessor(raw json.RawMessage) (postProcessor, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var head rawComponent
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, fmt.Errorf("post_processor: %w", err)
	}
	switch head.Type {
	case "ByteLevel":
		return nil, nil // only adjusts offsets; the ids are unchanged
	case "Sequence":
		var v struct {
			Processors []json.RawMessage `json:"processors"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("post_processor Sequence: %w", err)
		}
		var only postProcessor
		for i, r := range v.Processors {
			p, err := parsePostProcessor(r)
			if err != nil {
				return nil, fmt.Errorf("post_processor Sequence[%d]: %w", i, err)
			}
			if p == nil {
				continue
			}
			if only != nil {
				return nil, fmt.Errorf("post_processor Sequence: more than one processor adds special tokens")
			}
			only = p
		}
		return only, nil
	case "BertProcessing", "RobertaProcessing":
		var v struct {
			Sep [2]json.RawMessage `json:"sep"`
			Cls [2]json.RawMessage `json:"cls"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("post_processor %s: %w", head.Type, err)
		}
		var cls, sep int
		if err := json.Unmarshal(v.Cls[1], &cls); err != nil {
			return nil, fmt.Errorf("post_processor %s cls: %w", head.Type, err)
		}
		if err := json.Unmarshal(v.Sep[1], &sep); err != nil {
			return nil, fmt.Errorf("post_processor %s sep: %w", head.Type, err)
		}
		return template{{special: true, ids: []int{cls}}, {}, {special: true, ids: []int{sep}}}, nil
	case "TemplateProcessing":
		var v struct {
			Single []struct {
				Special *struct {
					ID     string `json:"id"`
					TypeID int    `json:"type_id"`
				} `json:"SpecialToken"`
				Sequence *struct {
					ID     string `json:"id"`
					TypeID int    `json:"type_id"`
				} `json:"Sequence"`
			} `json:"single"`
			Special map[string]struct {
				IDs []int `json:"ids"`
			} `json:"special_tokens"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("post_processor TemplateProcessing: %w", err)
		}
		var tp template
		for _, p := range v.Single {
			switch {
			case p.Special != nil:
				st, ok := v.Special[p.Special.ID]
				if !ok {
					return nil, fmt.Errorf("post_processor TemplateProcessing: special token %q undefined", p.Special.ID)
				}
				tp = append(tp, templatePiece{special: true, ids: st.IDs, typeID: p.Special.TypeID})
			case p.Sequence != nil:
				tp = append(tp, templatePiece{typeID: p.Sequence.TypeID})
			}
		}
		return tp, nil
	}
	return nil, fmt.Errorf("post_processor type %q is not supported", head.Type)
}

// offsetTrim is the offset trimming of the ByteLevel (and RobertaProcessing) post-processor
// with trim_offsets: a token's range loses the spaces at its start and end (byte-level "Ġ" or
// whitespace), except the one space add_prefix_space put before the first token.
type offsetTrim struct{ addPrefixSpace bool }

func (o offsetTrim) apply(tokens func(i int) string, offs []Offset) {
	space := string(byteToRune[' '])
	isSpace := func(r rune) bool { return string(r) == space || isWhitespace(r) }
	for i := range offs {
		tok := []rune(tokens(i))
		lead, trail := 0, 0
		for lead < len(tok) && isSpace(tok[lead]) {
			lead++
		}
		for trail < len(tok) && isSpace(tok[len(tok)-1-trail]) {
			trail++
		}
		off := &offs[i]
		if lead > 0 {
			if (i == 0 || off.Start == 0) && o.addPrefixSpace && lead == 1 {
				lead = 0
			}
			off.Start = min(off.Start+lead, off.End)
		}
		if trail > 0 && off.End >= trail {
			off.End = max(off.End-trail, off.Start)
		}
	}
}

// parseOffsetTrim finds a ByteLevel or RobertaProcessing post-processor with trim_offsets
// (alone or in a Sequence); nil when there is none.
func parseOffsetTrim(raw json.RawMessage) (*offsetTrim, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var v struct {
		Type           string            `json:"type"`
		TrimOffsets    *bool             `json:"trim_offsets"`
		AddPrefixSpace *bool             `json:"add_prefix_space"`
		Processors     []json.RawMessage `json:"processors"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("post_processor: %w", err)
	}
	switch v.Type {
	case "Sequence":
		for _, p := range v.Processors {
			if t, err := parseOffsetTrim(p); err != nil || t != nil {
				return t, err
			}
		}
	case "ByteLevel", "RobertaProcessing":
		if v.TrimOffsets == nil || *v.TrimOffsets {
			return &offsetTrim{addPrefixSpace: v.AddPrefixSpace == nil || *v.AddPrefixSpace}, nil
		}
	}
	return nil, nil
}
