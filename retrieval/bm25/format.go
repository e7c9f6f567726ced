package bm25

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
)

// File layout of bm25/index.bin (format 2), little-endian. A fixed header, then sections whose
// offsets and lengths the header records:
//
//	postings  per term, its blocks' data back to back: up to blockSize postings per block,
//	          doc gaps (doc - previous doc - 1, the first against the previous block's last
//	          doc) bit-packed with docBits each, then tf-1 bit-packed with tfBits each; the
//	          section ends with 8 zero bytes of padding
//	blocks    blockEntrySize bytes per block: last doc u32, data offset u32 (from the term's
//	          first block), max score f32 (an upper bound of the block's contributions),
//	          docBits u8, tfBits u8, count-1 u8, 0 u8
//	terms     termEntrySize bytes per term, in term order: df u32, max score f32, first block
//	          u64, postings offset u64
//	vocabOff  (terms+1) u64 offsets into vocab
//	vocab     the terms' bytes, sorted (byte order), back to back
//	docLens   u32 per document: its number of terms
//
// Everything is memory-mapped at query time; nothing is loaded or decoded up front.
const (
	fileMagic      = "LSRBM25\x02"
	oldMagic       = "LSRBM25\x01"
	headerSize     = 512
	blockSize      = 128
	blockEntrySize = 16
	termEntrySize  = 24
	numSections    = 6
	maxAnalyzerLen = 32
	postingsPad    = 8
	// headerCRCOffset is where the header's CRC-32 (of the bytes before it) is stored.
	headerCRCOffset = len(fileMagic) + 8 + 8 + 2 + maxAnalyzerLen + 6*8 + 16 + numSections*16
)

const (
	secPostings = iota
	secBlocks
	secTerms
	secVocabOff
	secVocab
	secDocLens
)

// header is the decoded fixed header.
type header struct {
	params        Params
	scoring       uint8
	analyzer      string
	numDocs       uint64
	docsWithTerms uint64
	totalLen      uint64
	numTerms      uint64
	numPostings   uint64
	numBlocks     uint64
	version       string // 16 hex digits
	sections      [numSections][2]uint64
}

// ErrCorrupt is wrapped by every error about a malformed index file.
var ErrCorrupt = errors.New("bm25: corrupt index file")

// ErrOldFormat is wrapped by the error for an index written by an older lsrflow.
var ErrOldFormat = errors.New("bm25: index file in an old format")

func (h *header) encode() []byte {
	b := make([]byte, 0, headerSize)
	le := binary.LittleEndian
	b = append(b, fileMagic...)
	b = le.AppendUint64(b, math.Float64bits(h.params.K1))
	b = le.AppendUint64(b, math.Float64bits(h.params.B))
	b = append(b, h.scoring, uint8(len(h.analyzer)))
	var name [maxAnalyzerLen]byte
	copy(name[:], h.analyzer)
	b = append(b, name[:]...)
	for _, v := range []uint64{h.numDocs, h.docsWithTerms, h.totalLen, h.numTerms, h.numPostings, h.numBlocks} {
		b = le.AppendUint64(b, v)
	}
	var ver [16]byte
	copy(ver[:], h.version)
	b = append(b, ver[:]...)
	for _, s := range h.sections {
		b = le.AppendUint64(b, s[0])
		b = le.AppendUint64(b, s[1])
	}
	b = le.AppendUint32(b, crc32.ChecksumIEEE(b))
	return append(b, make([]byte, headerSize-len(b))...)
}

func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// decodeHeader checks the header of a whole file (data) and every section bound and count
// that can be checked without reading the sections.
func decodeHeader(data []byte) (*header, error) {
	if len(data) >= len(oldMagic) && string(data[:len(oldMagic)]) == oldMagic {
		return nil, ErrOldFormat
	}
	if len(data) < headerSize || string(data[:len(fileMagic)]) != fileMagic {
		return nil, corruptf("bad magic or short header")
	}
	le := binary.LittleEndian
	h := &header{}
	p := len(fileMagic)
	u64 := func() uint64 { v := le.Uint64(data[p:]); p += 8; return v }
	h.params.K1 = math.Float64frombits(u64())
	h.params.B = math.Float64frombits(u64())
	h.scoring = data[p]
	nameLen := int(data[p+1])
	p += 2
	if nameLen > maxAnalyzerLen {
		return nil, corruptf("analyzer name length %d", nameLen)
	}
	h.analyzer = string(data[p : p+nameLen])
	p += maxAnalyzerLen
	h.numDocs, h.docsWithTerms, h.totalLen = u64(), u64(), u64()
	h.numTerms, h.numPostings, h.numBlocks = u64(), u64(), u64()
	h.version = string(data[p : p+16])
	p += 16
	for i := range h.sections {
		h.sections[i][0], h.sections[i][1] = u64(), u64()
	}
	if p != headerCRCOffset {
		panic("bm25: header layout and headerCRCOffset disagree")
	}
	if crc := le.Uint32(data[p:]); crc != crc32.ChecksumIEEE(data[:p]) {
		return nil, corruptf("header checksum mismatch")
	}
	if err := h.params.Validate(); err != nil {
		return nil, corruptf("%v", err)
	}
	size := uint64(len(data))
	for i, s := range h.sections {
		if s[0] < headerSize || s[0] > size || s[1] > size-s[0] {
			return nil, corruptf("section %d [%d,+%d) outside the file (%d bytes)", i, s[0], s[1], size)
		}
	}
	sec := func(i int) uint64 { return h.sections[i][1] }
	switch {
	case h.numDocs > math.MaxUint32 || h.docsWithTerms > h.numDocs:
		return nil, corruptf("document counts %d/%d", h.docsWithTerms, h.numDocs)
	case sec(secDocLens) != 4*h.numDocs:
		return nil, corruptf("document lengths section has %d bytes for %d documents", sec(secDocLens), h.numDocs)
	case h.numTerms > size/termEntrySize || sec(secTerms) != termEntrySize*h.numTerms:
		return nil, corruptf("terms section has %d bytes for %d terms", sec(secTerms), h.numTerms)
	case sec(secVocabOff) != 8*(h.numTerms+1):
		return nil, corruptf("vocabulary offsets section has %d bytes for %d terms", sec(secVocabOff), h.numTerms)
	case h.numBlocks > size/blockEntrySize || sec(secBlocks) != blockEntrySize*h.numBlocks:
		return nil, corruptf("blocks section has %d bytes for %d blocks", sec(secBlocks), h.numBlocks)
	case h.numPostings > h.numBlocks*blockSize || h.numBlocks > h.numPostings:
		return nil, corruptf("%d postings in %d blocks", h.numPostings, h.numBlocks)
	case sec(secPostings) < postingsPad:
		return nil, corruptf("postings section too short")
	case len(h.version) != 16:
		return nil, corruptf("version")
	}
	if _, err := newModel(h.scoring, h.params, h.numDocs, h.docsWithTerms, h.totalLen); err != nil {
		return nil, corruptf("%v", err)
	}
	return h, nil
}

// packBits appends the low `bits` bits of each value, least significant bit first.
func packBits(dst []byte, vals []uint32, bits uint) []byte {
	if bits == 0 {
		return dst
	}
	var acc uint64
	var n uint
	for _, v := range vals {
		acc |= uint64(v) << n
		n += bits
		for n >= 8 {
			dst = append(dst, byte(acc))
			acc >>= 8
			n -= 8
		}
	}
	if n > 0 {
		dst = append(dst, byte(acc))
	}
	return dst
}

// unpackBits decodes len(out) values of `bits` bits from src, which must hold
// packedLen(len(out), bits) bytes.
func unpackBits(out []uint32, src []byte, bits uint) {
	if bits == 0 {
		clear(out)
		return
	}
	mask := uint64(1)<<bits - 1
	bit := uint(0)
	for i := range out {
		byteOff := bit >> 3
		shift := bit & 7
		var w uint64
		if int(byteOff)+8 <= len(src) {
			w = binary.LittleEndian.Uint64(src[byteOff:])
		} else {
			for j := 0; int(byteOff)+j < len(src) && j < 8; j++ {
				w |= uint64(src[int(byteOff)+j]) << (8 * uint(j))
			}
		}
		out[i] = uint32((w >> shift) & mask)
		bit += bits
	}
}

func packedLen(n int, bits uint) int { return (n*int(bits) + 7) / 8 }

func bitsFor(max uint32) uint {
	b := uint(0)
	for max > 0 {
		b++
		max >>= 1
	}
	return b
}
