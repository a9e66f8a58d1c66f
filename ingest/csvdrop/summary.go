package csvdrop

import (
	"time"
)

// Outcomes of a file.
const (
	OutcomeProcessed = "processed"
	OutcomeFailed    = "failed"
)

// maxDuplicateExamples bounds Summary.DuplicateRows.
const maxDuplicateExamples = 100

// Summary reports what became of one file. It is written beside the file
// as <name>.summary.json, logged, and counted in metrics.
//
// Every data row that is not blank is counted once in RowsRead and in
// exactly one of Published, Duplicates and Rejected.
type Summary struct {
	V      int    `json:"v"`
	Folder string `json:"folder"`
	// File is the name the file was dropped under.
	File string `json:"file"`
	// StoredAs is where the file went, relative to the folder
	// (processed/… or failed/…); its sidecars share that name.
	StoredAs string `json:"stored_as"`
	Outcome  string `json:"outcome"`
	// Reason says why the file failed, for operators.
	Reason string `json:"reason,omitempty"`
	// Error is the technical cause of a failure.
	Error string `json:"error,omitempty"`

	Size      int64             `json:"size"`
	SHA256    string            `json:"sha256,omitempty"`
	Encoding  string            `json:"encoding,omitempty"`
	Delimiter string            `json:"delimiter,omitempty"`
	HeaderRow int               `json:"header_row,omitempty"`
	Columns   map[string]string `json:"columns,omitempty"`

	RowsRead int `json:"rows_read"`
	// Published rows were acknowledged by the broker.
	Published int `json:"published"`
	// Resumed counts the published rows acknowledged during an earlier,
	// interrupted take of the same file and not published again.
	Resumed int `json:"resumed,omitempty"`
	// Duplicates have the id of an earlier row of the file or of a row an
	// earlier file brought; they are not published again.
	Duplicates int `json:"duplicates"`
	// Rejected rows are listed, with the reason, in RejectedFile.
	Rejected int `json:"rejected"`
	// RejectedBy counts the rejected rows by the class of their reason
	// (RowClassFormat, or FieldClass of the row's first problem).
	RejectedBy map[string]int `json:"rejected_by,omitempty"`
	// EmptyRows are blank records (trailing empty rows of Excel exports).
	EmptyRows int `json:"empty_rows"`
	// ReceivedFallbacks are rows whose receive time is the file's
	// modification time because their own was missing or unreadable.
	ReceivedFallbacks int `json:"received_fallbacks"`
	// SourceIDsIgnored are rows whose work-order number Excel had turned
	// into scientific notation; they are identified by content instead.
	SourceIDsIgnored int `json:"source_ids_ignored"`
	// RejectedFile is the rejected-rows file, relative to the folder.
	RejectedFile string `json:"rejected_file,omitempty"`
	// DuplicateRows are the first duplicates found (at most 100).
	DuplicateRows []DuplicateRow `json:"duplicate_rows,omitempty"`

	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	DurationMS int64     `json:"duration_ms"`
}

// DuplicateRow is a row whose id an earlier row already had.
type DuplicateRow struct {
	Row int    `json:"row"`
	ID  string `json:"id"`
	// FirstFile and FirstRow locate the row that was published.
	FirstFile string `json:"first_file"`
	FirstRow  int    `json:"first_row"`
}

// The classes of what a folder refuses (Summary.RejectedBy, Rejected).
const (
	// RowClassFormat is a row the CSV reader could not split into cells
	// (a stray quote).
	RowClassFormat = "CSV 格式错误"
	// FileClassFailed is a file moved to failed/ as a whole.
	FileClassFailed = "整个文件被退回"
)

// FieldClass is the class of a row rejected for its column column (as
// the file names it): "字段“来电号码”有误". The class names the column,
// never the cell, which may hold a phone number.
func FieldClass(column string) string { return "字段“" + column + "”有误" }

// reject counts a rejected row of class class.
func (s *Summary) reject(class string) {
	s.Rejected++
	if s.RejectedBy == nil {
		s.RejectedBy = map[string]int{}
	}
	s.RejectedBy[class]++
}

// Rejected is what one file of a folder refused, told once the file
// reached its outcome (see Watcher.OnRejected).
type Rejected struct {
	// Folder is the folder's name (FolderConfig.Name).
	Folder string
	// File is the name the file was dropped under.
	File string
	// ByClass counts the rejected rows by class (RowClassFormat,
	// FieldClass) and a file moved to failed/ as one FileClassFailed.
	ByClass map[string]int
	// Detail says, for operators, what happened and where to look: the
	// file, its rows or reason, never a cell.
	Detail string
}
