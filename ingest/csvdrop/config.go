package csvdrop

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/tousu/tousu/ingest"

	"github.com/tousu/tousu/internal/keypath"
)

// Config configures the drop folders. The zero value watches nothing.
type Config struct {
	// Folders are the watched drop folders. Each one is independent: its
	// trouble never blocks another.
	Folders []FolderConfig `yaml:"folders"`
	// Intake is the installation's contact rule (the tousu configuration's
	// section "intake"), applied to the phone numbers customers give.
	Intake ingest.Config `yaml:"-"`
}

// FolderConfig is one drop folder. Zero values mean the documented
// defaults, filled by Provision.
type FolderConfig struct {
	// Name identifies the folder: the envelope Source, part of every row
	// id, and the metrics label. 1 to 64 of a-z, 0-9, "_" and "-".
	Name string `yaml:"name"`
	// Path is the directory operators drop files into. It is created when
	// missing, with processed/ and failed/ inside it.
	Path string `yaml:"path"`
	// Patterns are the file names taken, as path/filepath.Match patterns
	// matched case-insensitively. Default *.csv, *.tsv and *.txt.
	Patterns []string `yaml:"patterns"`
	// Completeness says when a file is complete enough to take.
	Completeness Completeness `yaml:"completeness"`
	// Encoding is auto (the default), utf-8, gb18030 (gbk and gb2312 are
	// read as gb18030, their superset), utf-16, utf-16le or utf-16be.
	Encoding string `yaml:"encoding"`
	// Delimiter is auto (the default), "," (or comma), "\t" (or tab) or
	// ";" (or semicolon).
	Delimiter string `yaml:"delimiter"`
	// Columns overrides the header aliases of a field (phone, received_at,
	// source_id, description, name, subject, business_type, region,
	// agent_id, priority). The list replaces that field's default aliases;
	// the first alias found in a file is preferred, and a row whose
	// preferred cell is empty falls back to the next column found.
	Columns map[string][]string `yaml:"columns"`
	// ScanInterval is how often the folder is listed in addition to
	// file-system events. Default 2s.
	ScanInterval time.Duration `yaml:"scan_interval"`
	// MaxRowBytes bounds one record (after decoding to UTF-8). A longer
	// record, usually an unclosed quote, stops the file: it goes to
	// failed/. Default 1 MiB.
	MaxRowBytes int `yaml:"max_row_bytes"`
	// MaxInFlight bounds the rows handed to Publish and not yet
	// acknowledged. Default 64.
	MaxInFlight int `yaml:"max_in_flight"`
	// PublishTimeout bounds the wait for one acknowledgement. Default 30s.
	PublishTimeout time.Duration `yaml:"publish_timeout"`
	// DedupeWindow is the ledger's retention: how long the ids of
	// published rows are remembered to recognise a row that an earlier
	// file already brought. Older entries are pruned when the folder is
	// set up and then daily, a few thousand per transaction between
	// files, so the ledger stops growing once it spans the window (about
	// 4 million entries for 10,000 rows a day over the default). Default
	// 9600h (400 days). A row dropped again after the window is published
	// again; later stages absorb it only while the normalizer still
	// remembers its id (normalize.seen_retention_days, default 90 days),
	// else it becomes a new complaint. Keep it comfortably longer than
	// anyone would re-drop an old export.
	DedupeWindow time.Duration `yaml:"dedupe_window"`
	// StateDir holds the folder's state (the ledger of published ids and
	// in-progress records). Default <path>/.tousu.
	StateDir string `yaml:"state_dir"`
}

// Completeness modes.
const (
	// CompleteAuto takes a file when a .done marker is beside it or its
	// size and modification time were stable for StableFor.
	CompleteAuto = "auto"
	// CompleteRename takes a file as soon as it appears under a name the
	// patterns match: writers create it under a temporary name (.tmp,
	// .part, .crdownload, a leading dot or ~$) and rename it into place.
	CompleteRename = "rename"
	// CompleteDone takes a file only when a marker <name>.done (or
	// <name without extension>.done) exists beside it.
	CompleteDone = "done"
	// CompleteStable takes a file when its size and modification time
	// were unchanged for StableFor.
	CompleteStable = "stable"
)

// Completeness says when a dropped file is completely written.
type Completeness struct {
	// Mode is auto (the default), rename, done or stable.
	Mode string `yaml:"mode"`
	// StableFor is how long size and modification time must stay
	// unchanged in the auto and stable modes. Default 2s.
	StableFor time.Duration `yaml:"stable_for"`
}

// Defaults.
const (
	DefaultScanInterval   = 2 * time.Second
	DefaultStableFor      = 2 * time.Second
	DefaultMaxRowBytes    = 1 << 20
	DefaultMaxInFlight    = 64
	DefaultPublishTimeout = 30 * time.Second
	DefaultDedupeWindow   = 400 * 24 * time.Hour
	// MinMaxRowBytes is the smallest accepted MaxRowBytes.
	MinMaxRowBytes = 1 << 10
	// EnvPrefix starts the environment variables that declare folders:
	// TOUSU_CSVDROP_<NAME>=/path.
	EnvPrefix = "TOUSU_CSVDROP_"
	// StateDirName is the default state directory inside a folder.
	StateDirName = ".tousu"
	// ProcessedDir and FailedDir are the subdirectories files end in.
	ProcessedDir = "processed"
	FailedDir    = "failed"
)

// DefaultPatterns are the file names taken when Patterns is empty.
var DefaultPatterns = []string{"*.csv", "*.tsv", "*.txt"}

var folderName = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)

// Provision fills the defaults of every folder. It opens nothing.
func (c *Config) Provision() {
	for i := range c.Folders {
		c.Folders[i].Provision()
	}
}

// Validate checks the configuration without touching the file system and
// reports every problem by its key (folders[i].key). It changes nothing.
func (c Config) Validate() error {
	var errs []error
	names := map[string]int{}
	paths := map[string]int{}
	for i, f := range c.Folders {
		at := fmt.Sprintf("folders[%d]", i)
		errs = append(errs, keypath.Prefix(at, f.Validate())...)
		if j, dup := names[f.Name]; dup && f.Name != "" {
			errs = append(errs, fmt.Errorf("%s.name: %q is also used by folders[%d]", at, f.Name, j))
		}
		names[f.Name] = i
		if f.Path != "" {
			p := filepath.Clean(f.Path)
			if j, dup := paths[p]; dup {
				errs = append(errs, fmt.Errorf("%s.path: %s is also watched by folders[%d]", at, p, j))
			}
			paths[p] = i
		}
	}
	return errors.Join(errs...)
}

// Validate checks one folder's configuration and reports every problem by
// its key within the folder (path: …).
func (f FolderConfig) Validate() error {
	var errs []error
	if !folderName.MatchString(f.Name) {
		errs = append(errs, errors.New("name: 1 to 64 of a-z, 0-9, _ and -"))
	}
	if strings.TrimSpace(f.Path) == "" {
		errs = append(errs, errors.New("path: required"))
	}
	for _, p := range f.Patterns {
		if _, err := filepath.Match(p, ""); err != nil || p == "" || strings.ContainsAny(p, `/\`) {
			errs = append(errs, fmt.Errorf("patterns: %q is not a file name pattern", p))
		}
	}
	switch f.Completeness.Mode {
	case "", CompleteAuto, CompleteRename, CompleteDone, CompleteStable:
	default:
		errs = append(errs, fmt.Errorf("completeness.mode: %q is not one of auto, rename, done, stable", f.Completeness.Mode))
	}
	if f.Completeness.StableFor < 0 {
		errs = append(errs, errors.New("completeness.stable_for: must not be negative"))
	}
	if _, err := parseEncoding(f.Encoding); err != nil {
		errs = append(errs, fmt.Errorf("encoding: %w", err))
	}
	if _, err := parseDelimiter(f.Delimiter); err != nil {
		errs = append(errs, fmt.Errorf("delimiter: %w", err))
	}
	if _, err := resolveAliases(f.Columns); err != nil {
		errs = append(errs, fmt.Errorf("columns: %w", err))
	}
	if f.ScanInterval < 0 {
		errs = append(errs, errors.New("scan_interval: must not be negative"))
	}
	if f.MaxRowBytes != 0 && f.MaxRowBytes < MinMaxRowBytes {
		errs = append(errs, fmt.Errorf("max_row_bytes: must be at least %d", MinMaxRowBytes))
	}
	if f.MaxInFlight < 0 {
		errs = append(errs, errors.New("max_in_flight: must not be negative"))
	}
	if f.PublishTimeout < 0 {
		errs = append(errs, errors.New("publish_timeout: must not be negative"))
	}
	if f.DedupeWindow < 0 {
		errs = append(errs, errors.New("dedupe_window: must not be negative"))
	}
	return errors.Join(errs...)
}

// Provision fills every zero value with its default. It opens nothing.
func (f *FolderConfig) Provision() {
	if len(f.Patterns) == 0 {
		f.Patterns = slices.Clone(DefaultPatterns)
	}
	if f.Completeness.Mode == "" {
		f.Completeness.Mode = CompleteAuto
	}
	if f.Completeness.StableFor == 0 {
		f.Completeness.StableFor = DefaultStableFor
	}
	if f.Encoding == "" {
		f.Encoding = "auto"
	}
	if f.Delimiter == "" {
		f.Delimiter = "auto"
	}
	if f.ScanInterval == 0 {
		f.ScanInterval = DefaultScanInterval
	}
	if f.MaxRowBytes == 0 {
		f.MaxRowBytes = DefaultMaxRowBytes
	}
	if f.MaxInFlight == 0 {
		f.MaxInFlight = DefaultMaxInFlight
	}
	if f.PublishTimeout == 0 {
		f.PublishTimeout = DefaultPublishTimeout
	}
	if f.DedupeWindow == 0 {
		f.DedupeWindow = DefaultDedupeWindow
	}
	if f.StateDir == "" {
		f.StateDir = filepath.Join(f.Path, StateDirName)
	}
}

// FolderFromEnv returns the folder declared by the environment variable
// TOUSU_CSVDROP_<NAME>=path: its name is NAME in lower case, every other
// setting is the default.
func FolderFromEnv(name, path string) FolderConfig {
	return FolderConfig{Name: strings.ToLower(strings.TrimSpace(name)), Path: strings.TrimSpace(path)}
}

// FoldersFromEnv returns the folders declared by TOUSU_CSVDROP_<NAME>
// variables in environ (KEY=VALUE strings, as os.Environ returns them),
// sorted by name.
func FoldersFromEnv(environ []string) []FolderConfig {
	var out []FolderConfig
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, EnvPrefix) {
			continue
		}
		out = append(out, FolderFromEnv(strings.TrimPrefix(k, EnvPrefix), v))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// encodingName is a configured or detected encoding.
type encodingName string

const (
	encAuto    encodingName = "auto"
	encUTF8    encodingName = "utf-8"
	encUTF8BOM encodingName = "utf-8-bom"
	encGB18030 encodingName = "gb18030"
	encUTF16   encodingName = "utf-16" // endianness from the BOM, little-endian without one
	encUTF16LE encodingName = "utf-16le"
	encUTF16BE encodingName = "utf-16be"
)

// parseEncoding maps a configured encoding label to its decoder name.
func parseEncoding(s string) (encodingName, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "auto":
		return encAuto, nil
	case "utf-8", "utf8":
		return encUTF8, nil
	case "gb18030", "gbk", "gb2312", "cp936":
		return encGB18030, nil
	case "utf-16", "utf16", "unicode":
		return encUTF16, nil
	case "utf-16le", "utf16le":
		return encUTF16LE, nil
	case "utf-16be", "utf16be":
		return encUTF16BE, nil
	}
	return "", fmt.Errorf("%q is not one of auto, utf-8, gb18030 (gbk, gb2312), utf-16, utf-16le, utf-16be", s)
}

// parseDelimiter maps a configured delimiter to its rune, 0 for auto.
func parseDelimiter(s string) (rune, error) {
	switch strings.ToLower(s) {
	case "", "auto":
		return 0, nil
	case ",", "comma":
		return ',', nil
	case "\t", `\t`, "tab":
		return '\t', nil
	case ";", "semicolon":
		return ';', nil
	}
	return 0, fmt.Errorf("%q is not one of auto, \",\", \"\\t\", \";\"", s)
}
