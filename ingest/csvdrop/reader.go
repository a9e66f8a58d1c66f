package csvdrop

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// Errors a Reader returns inside a *FileError.
var (
	// ErrNotText means the bytes are not delimited text (a spreadsheet
	// workbook, an archive, binary data).
	ErrNotText = errors.New("not a text file")
	// ErrEmpty means the file has no records at all.
	ErrEmpty = errors.New("file is empty")
	// ErrRowTooLong means a record exceeded MaxRowBytes.
	ErrRowTooLong = errors.New("record exceeds the maximum row size")
)

// FileError says why a whole file cannot be taken. It goes to failed/.
type FileError struct {
	// Reason is for operators, in Simplified Chinese.
	Reason string
	// Err is the technical cause.
	Err error
}

// Error implements error.
func (e *FileError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *FileError) Unwrap() error { return e.Err }

// RowError is a record the CSV parser could not read; reading continues
// with the next record.
type RowError struct {
	Row int
	Err error
}

// Error implements error.
func (e *RowError) Error() string { return fmt.Sprintf("row %d: %v", e.Row, e.Err) }

// Unwrap returns the cause.
func (e *RowError) Unwrap() error { return e.Err }

// sampleSize is how much of a file encoding and delimiter detection look at.
const sampleSize = 64 << 10

// headerSearch is how many non-blank records may precede the header (a
// title line such as "工单导出 2025-01-06").
const headerSearch = 10

// ReaderOptions configure NewReader. Zero values mean auto-detection,
// DefaultAliases and DefaultMaxRowBytes.
type ReaderOptions struct {
	// Encoding is auto, utf-8, gb18030 (gbk, gb2312), utf-16, utf-16le
	// or utf-16be.
	Encoding string
	// Delimiter is auto, ",", "\t" or ";".
	Delimiter string
	// Aliases map header names to fields; nil means DefaultAliases.
	Aliases map[Field][]string
	// MaxRowBytes bounds one decoded record.
	MaxRowBytes int

	// wholeUTF8 is what a full pass over the file found: 1 valid UTF-8,
	// -1 not, 0 unknown (the sample decides).
	wholeUTF8 int8
}

// Record is one data record of a file.
type Record struct {
	// Row is the record's row number as a spreadsheet shows it: the first
	// line is row 1 (usually the header), blank lines count, a quoted
	// field spanning lines does not.
	Row int
	// Cells are the record's fields; valid until the next call to Next.
	Cells []string
}

// Reader streams the data records of one delimited text file: it detects
// the encoding and delimiter, finds the header, and then returns one
// record at a time, holding at most one record in memory. It is not safe
// for concurrent use.
type Reader struct {
	csv       *csv.Reader
	lim       *rowLimiter
	header    *Header
	headerRow int
	encoding  encodingName
	delim     rune
	maxRow    int
	embedded  int // newlines inside fields of the records read so far
	lastRow   int
}

// NewReader reads the start of r to detect its encoding (byte-order mark,
// else UTF-8 if the sample is valid UTF-8, else GB18030) and delimiter
// (the one of tab, comma and semicolon that splits the most sample records
// into the same number of fields), then finds the header among the first
// records. It returns a *FileError when r is not text, is empty or lacks a
// required column (the cause is then a *MissingColumnsError).
func NewReader(r io.Reader, opt ReaderOptions) (*Reader, error) {
	enc, err := parseEncoding(opt.Encoding)
	if err != nil {
		return nil, err
	}
	delim, err := parseDelimiter(opt.Delimiter)
	if err != nil {
		return nil, err
	}
	maxRow := opt.MaxRowBytes
	if maxRow <= 0 {
		maxRow = DefaultMaxRowBytes
	}
	br, sample, enc, whole, err := sniff(r, enc, opt.wholeUTF8)
	if err != nil {
		return nil, err
	}
	decoded := decodeSample(sample, enc, whole)
	if delim == 0 {
		delim = detectDelimiter(decoded)
	}

	rd := &Reader{encoding: enc, delim: delim, maxRow: maxRow}
	rd.lim = &rowLimiter{r: decoder(br, enc), max: int64(maxRow) + 64<<10}
	c := csv.NewReader(rd.lim)
	c.Comma = delim
	c.LazyQuotes = true
	c.FieldsPerRecord = -1
	c.ReuseRecord = true
	rd.csv = c
	if err := rd.findHeader(opt.Aliases); err != nil {
		return nil, err
	}
	return rd, nil
}

// sniff reads the start of r to detect its encoding (see NewReader). It
// returns r buffered and past a byte-order mark, the sample read (without
// the mark), the encoding and whether the sample is all of r.
func sniff(r io.Reader, enc encodingName, wholeUTF8 int8) (*bufio.Reader, []byte, encodingName, bool, error) {
	br := bufio.NewReaderSize(r, sampleSize)
	sample, err := br.Peek(sampleSize)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, nil, "", false, err
	}
	whole := len(sample) < sampleSize
	if len(sample) == 0 {
		return nil, nil, "", false, &FileError{Reason: "文件为空", Err: ErrEmpty}
	}
	enc, bomLen, ferr := detectEncoding(sample, enc, whole, wholeUTF8)
	if ferr != nil {
		return nil, nil, "", false, ferr
	}
	if _, err := br.Discard(bomLen); err != nil {
		return nil, nil, "", false, err
	}
	return br, sample[bomLen:], enc, whole, nil
}

// DecodeText returns r decoded to UTF-8 as NewReader decodes a file (a
// byte-order mark, else UTF-8 when the start is valid UTF-8, else
// GB18030), with the encoding it chose; for readers of other layouts
// (training files, JSON lines). It returns a *FileError for input that is
// empty or not text.
func DecodeText(r io.Reader) (io.Reader, string, error) {
	br, _, enc, _, err := sniff(r, encAuto, 0)
	if err != nil {
		return nil, "", err
	}
	return decoder(br, enc), string(enc), nil
}

// findHeader reads records until one maps every required field. Records
// before it are a preamble and are skipped.
func (r *Reader) findHeader(aliases map[Field][]string) error {
	var best *Header
	var bestErr error
	seen := 0
	for seen < headerSearch {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		var re *RowError
		if errors.As(err, &re) {
			seen++
			continue
		}
		if err != nil {
			return err
		}
		if blank(rec.Cells) {
			continue
		}
		seen++
		h, err := MapHeader(rec.Cells, aliases)
		if err == nil {
			r.header, r.headerRow = h, rec.Row
			return nil
		}
		if best == nil || h.matched() > best.matched() {
			best, bestErr = h, err
		}
	}
	if best == nil {
		return &FileError{Reason: "文件为空：没有任何记录", Err: ErrEmpty}
	}
	var mc *MissingColumnsError
	if errors.As(bestErr, &mc) {
		return &FileError{Reason: mc.Reason(), Err: mc}
	}
	return bestErr
}

// Header returns the file's column layout.
func (r *Reader) Header() *Header { return r.header }

// HeaderRow returns the row number of the header record.
func (r *Reader) HeaderRow() int { return r.headerRow }

// Encoding returns the encoding read: utf-8, utf-8-bom, gb18030,
// utf-16le or utf-16be.
func (r *Reader) Encoding() string { return string(r.encoding) }

// Delimiter returns the field delimiter.
func (r *Reader) Delimiter() rune { return r.delim }

// Next returns the next record. It returns io.EOF at the end, a *RowError
// for a record that could not be parsed (call Next again to go on), and
// any other error (a *FileError for an oversized record, a read error)
// when the file cannot be read further.
func (r *Reader) Next() (Record, error) {
	rec, err := r.csv.Read()
	r.lim.mark = r.csv.InputOffset()
	if err != nil {
		var pe *csv.ParseError
		switch {
		case errors.As(err, &pe):
			r.lastRow = pe.StartLine - r.embedded
			return Record{Row: r.lastRow}, &RowError{Row: r.lastRow, Err: err}
		case errors.Is(err, ErrRowTooLong):
			return Record{}, &FileError{
				Reason: fmt.Sprintf("第 %d 行之后的一条记录超过 %d 字节，文件可能有未闭合的引号，或分隔符设置不对", r.lastRow, r.maxRow),
				Err:    fmt.Errorf("after row %d: %w", r.lastRow, ErrRowTooLong),
			}
		}
		return Record{}, err
	}
	line := 0
	if len(rec) > 0 {
		line, _ = r.csv.FieldPos(0)
	}
	row := line - r.embedded
	for _, c := range rec {
		r.embedded += strings.Count(c, "\n")
	}
	if row <= r.lastRow { // defensive: keep row numbers increasing
		row = r.lastRow + 1
	}
	r.lastRow = row
	return Record{Row: row, Cells: rec}, nil
}

// rowLimiter fails reading when the record being parsed has grown past
// max bytes since the end of the previous record (mark).
type rowLimiter struct {
	r       io.Reader
	n, mark int64
	max     int64
}

func (l *rowLimiter) Read(p []byte) (int, error) {
	if l.n-l.mark > l.max {
		return 0, ErrRowTooLong
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	return n, err
}

// detectEncoding picks the decoder from a byte-order mark, the configured
// encoding, or the sample, and rejects what is not text. bomLen is the
// number of leading bytes to skip.
func detectEncoding(sample []byte, enc encodingName, whole bool, wholeUTF8 int8) (encodingName, int, *FileError) {
	if ferr := sniffBinary(sample); ferr != nil {
		return "", 0, ferr
	}
	switch {
	case bytes.HasPrefix(sample, []byte{0xEF, 0xBB, 0xBF}) && (enc == encAuto || enc == encUTF8):
		return encUTF8BOM, 3, nil
	case bytes.HasPrefix(sample, []byte{0xFF, 0xFE}) && (enc == encAuto || enc == encUTF16 || enc == encUTF16LE || enc == encUTF16BE):
		return encUTF16LE, 0, nil // the decoder consumes the BOM
	case bytes.HasPrefix(sample, []byte{0xFE, 0xFF}) && (enc == encAuto || enc == encUTF16 || enc == encUTF16LE || enc == encUTF16BE):
		return encUTF16BE, 0, nil
	}
	switch enc {
	case encUTF16:
		return encUTF16LE, 0, nil
	case encUTF16LE, encUTF16BE:
		return enc, 0, nil
	}
	if i := bytes.IndexByte(sample, 0); i >= 0 {
		reason := "文件不是文本（包含二进制数据）"
		if looksUTF16(sample) {
			reason = "文件像是没有字节顺序标记（BOM）的 UTF-16 文本：请在该目录的配置中设置 encoding: utf-16le 或 utf-16be"
		}
		return "", 0, &FileError{Reason: reason, Err: fmt.Errorf("%w: NUL byte at offset %d", ErrNotText, i)}
	}
	if enc != encAuto {
		return enc, 0, nil
	}
	if wholeUTF8 > 0 || wholeUTF8 == 0 && validUTF8Prefix(sample, whole) {
		return encUTF8, 0, nil
	}
	return encGB18030, 0, nil
}

// validUTF8Prefix reports whether sample is valid UTF-8, ignoring a rune
// cut off at its end when the sample is not the whole file.
func validUTF8Prefix(sample []byte, whole bool) bool {
	if !whole {
		for i := 1; i <= utf8.UTFMax && i <= len(sample); i++ {
			if utf8.RuneStart(sample[len(sample)-i]) {
				if !utf8.FullRune(sample[len(sample)-i:]) {
					sample = sample[:len(sample)-i]
				}
				break
			}
		}
	}
	return utf8.Valid(sample)
}

// looksUTF16 reports NUL bytes only at even or only at odd offsets.
func looksUTF16(b []byte) bool {
	var even, odd int
	for i, c := range b[:min(len(b), 4096)] {
		if c == 0 {
			if i%2 == 0 {
				even++
			} else {
				odd++
			}
		}
	}
	return (even == 0) != (odd == 0)
}

// magic numbers of files that are dropped by mistake.
var magics = []struct {
	prefix []byte
	reason string
}{
	{[]byte("PK\x03\x04"), "这是 Excel 工作簿（.xlsx）或其他压缩文件，不是 CSV 文本：请在 Excel 中“另存为”CSV（逗号分隔）或“Unicode 文本”后再放入"},
	{[]byte("PK\x05\x06"), "这是一个压缩文件（.zip），不是 CSV 文本"},
	{[]byte("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1"), "这是旧版 Excel 工作簿（.xls），不是 CSV 文本：请在 Excel 中“另存为”CSV（逗号分隔）或“Unicode 文本”后再放入"},
	{[]byte("%PDF-"), "这是 PDF 文件，不是 CSV 文本"},
	{[]byte("\x1F\x8B"), "这是 gzip 压缩文件，不是 CSV 文本"},
	{[]byte("Rar!\x1A\x07"), "这是 RAR 压缩文件，不是 CSV 文本"},
	{[]byte("7z\xBC\xAF\x27\x1C"), "这是 7z 压缩文件，不是 CSV 文本"},
}

// sniffBinary recognises workbooks and archives by their magic number.
func sniffBinary(sample []byte) *FileError {
	for _, m := range magics {
		if bytes.HasPrefix(sample, m.prefix) {
			return &FileError{Reason: m.reason, Err: fmt.Errorf("%w: magic %q", ErrNotText, m.prefix)}
		}
	}
	return nil
}

// decoder wraps r in the decoder of enc.
func decoder(r io.Reader, enc encodingName) io.Reader {
	switch enc {
	case encGB18030:
		return transform.NewReader(r, simplifiedchinese.GB18030.NewDecoder())
	case encUTF16LE:
		return transform.NewReader(r, unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewDecoder())
	case encUTF16BE:
		return transform.NewReader(r, unicode.UTF16(unicode.BigEndian, unicode.UseBOM).NewDecoder())
	}
	return r
}

// decodeSample decodes the sample for delimiter detection, without a
// last line that may be cut off.
func decodeSample(sample []byte, enc encodingName, whole bool) string {
	b, err := io.ReadAll(io.LimitReader(decoder(bytes.NewReader(sample), enc), 4*sampleSize))
	if err != nil && len(b) == 0 {
		b = sample
	}
	if !whole {
		if i := bytes.LastIndexByte(b, '\n'); i > 0 {
			b = b[:i+1]
		}
	}
	return string(b)
}

// delimiters are the candidates, in order of preference on a tie.
var delimiters = []rune{'\t', ',', ';'}

// detectDelimiter returns the candidate that splits the most sample
// records into the same number (at least two) of fields; on a tie the one
// with more fields, then the earlier candidate. Comma when none splits.
func detectDelimiter(sample string) rune {
	best, bestFreq, bestFields := ',', 0, 0
	for _, d := range delimiters {
		c := csv.NewReader(strings.NewReader(sample))
		c.Comma = d
		c.LazyQuotes = true
		c.FieldsPerRecord = -1
		hist := map[int]int{}
		for range 50 {
			rec, err := c.Read()
			if err != nil {
				var pe *csv.ParseError
				if errors.As(err, &pe) {
					continue
				}
				break
			}
			if len(rec) >= 2 && !blank(rec) {
				hist[len(rec)]++
			}
		}
		freq, fields := 0, 0
		for n, f := range hist {
			if f > freq || f == freq && n > fields {
				freq, fields = f, n
			}
		}
		if freq > bestFreq || freq == bestFreq && freq > 0 && fields > bestFields {
			best, bestFreq, bestFields = d, freq, fields
		}
	}
	return best
}
