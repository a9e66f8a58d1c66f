// Package csvdrop is the hotline channel: call-centre systems export work
// orders as CSV (or Excel "Unicode text") files, operators drop them into
// a folder, and every row becomes a complaint envelope.
//
// # Folder layout
//
//	<folder>/                 drop files here (*.csv, *.tsv, *.txt by default)
//	<folder>/x.csv.done       optional completion marker (see Completeness)
//	<folder>/processed/       x.csv, x.csv.summary.json, x.csv.rejected.csv
//	<folder>/failed/          x.csv, x.csv.reason.txt, x.csv.summary.json
//	<folder>/.tousu/          state: ledger.db (acknowledged ids), work/ (files being taken)
//
// A file moves to processed/ only after every row was acknowledged by
// Publish. A name already used in processed/ or failed/ gets a timestamp
// (x.20250106-120938.csv). Only regular files directly in the folder are
// taken: hidden files, Office lock files (~$x.csv), temporary names
// (.tmp, .part, .crdownload, …) and directories are ignored, and a
// symbolic link is never followed (it is moved to failed/ with a reason).
// All file access goes through an os.Root, so nothing outside the folder
// is ever opened or moved.
//
// # Reading a file
//
// A first streaming pass hashes the file (SHA-256) and checks whether it
// is entirely UTF-8. The second pass decodes it (byte-order mark for
// UTF-8 and UTF-16; else UTF-8 when the whole file is valid UTF-8; else
// GB18030, the superset of GBK and GB2312), detects the delimiter (tab,
// comma or semicolon), finds the header among the first ten records, and
// streams the records with encoding/csv (lazy quotes, ragged rows), so a
// file of any size needs memory for one record plus the rows in flight.
// Workbooks (.xlsx, .xls) and other binary files are recognised and sent
// to failed/ with a reason.
//
// # Ids, duplicates and crash safety
//
// A row's id is ingest.NewID(hotline, folder name, work-order number), or,
// for a row without one, a key from the file's hash and the row number.
// Acknowledged ids are recorded in the folder's ledger (after the
// acknowledgement, in batches). A row whose id the ledger already holds
// from another row or file is a duplicate and is not published again.
// The ledger forgets ids after the folder's dedupe window (default 400
// days; pruned at setup and daily, in small transactions between files):
// a row dropped again after that is published again. A work record marks
// each file being taken; after a crash the file is taken again under the
// same run, rows the ledger has for that run are not republished, and
// rows acknowledged just before the crash but not yet recorded are
// published a second time under the same id, which every later stage
// treats as the same complaint.
package csvdrop
