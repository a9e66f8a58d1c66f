package router

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// A model's directory holds manifest.json and the weights file.
const (
	manifestFile = "manifest.json"
	weightsFile  = "weights.bin"
)

// weightsMagic starts a weights file.
var weightsMagic = []byte("TSWM1\n")

// encodeWeights writes the model's weights: the magic, the number of
// classes and of hash bits (uint32), the biases, the number of buckets
// with a weight and, for each in order, its index and its weights; all
// little-endian, float32.
func encodeWeights(m *linear, bits int) []byte {
	var b bytes.Buffer
	b.Write(weightsMagic)
	put := func(v any) { binary.Write(&b, binary.LittleEndian, v) } //nolint:errcheck // a bytes.Buffer does not fail
	put(uint32(m.classes))
	put(uint32(bits))
	put(m.bias)
	var used []uint32
	for i := 0; i < len(m.w); i += m.classes {
		if slices.ContainsFunc(m.w[i:i+m.classes], func(x float32) bool { return x != 0 }) {
			used = append(used, uint32(i/m.classes))
		}
	}
	put(uint32(len(used)))
	for _, u := range used {
		put(u)
		put(m.w[int(u)*m.classes : int(u+1)*m.classes])
	}
	return b.Bytes()
}

// decodeWeights reads what encodeWeights wrote.
func decodeWeights(data []byte, kind string, classes, bits int) (*linear, error) {
	if !bytes.HasPrefix(data, weightsMagic) {
		return nil, errors.New("not a tousu weights file")
	}
	r := bytes.NewReader(data[len(weightsMagic):])
	var hdr [2]uint32
	if err := binary.Read(r, binary.LittleEndian, &hdr); err != nil {
		return nil, err
	}
	if int(hdr[0]) != classes || int(hdr[1]) != bits {
		return nil, fmt.Errorf("weights are for %d categories and %d hash bits, the manifest says %d and %d", hdr[0], hdr[1], classes, bits)
	}
	m := &linear{kind: kind, classes: classes, bias: make([]float32, classes), w: make([]float32, (1<<bits)*classes)}
	if err := binary.Read(r, binary.LittleEndian, m.bias); err != nil {
		return nil, err
	}
	var n uint32
	if err := binary.Read(r, binary.LittleEndian, &n); err != nil {
		return nil, err
	}
	for range n {
		var u uint32
		if err := binary.Read(r, binary.LittleEndian, &u); err != nil {
			return nil, err
		}
		if u >= 1<<bits {
			return nil, fmt.Errorf("bucket %d is out of range", u)
		}
		if err := binary.Read(r, binary.LittleEndian, m.w[int(u)*classes:int(u+1)*classes]); err != nil {
			return nil, err
		}
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%d bytes after the weights", r.Len())
	}
	for _, x := range m.w {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil, errors.New("weights hold NaN or infinity")
		}
	}
	return m, nil
}

// seal computes the weights' hash and the model's ID.
func (m *Model) seal() []byte {
	w := encodeWeights(m.lin, m.Manifest.Features.HashBits)
	sum := sha256.Sum256(w)
	m.Manifest.WeightsSHA256 = hex.EncodeToString(sum[:])
	id := sha256.Sum256([]byte(m.Manifest.WeightsSHA256 + m.Manifest.Data.SHA256))
	name := m.Manifest.Pack
	if m.Manifest.PackVersion != "" {
		name += "@" + m.Manifest.PackVersion
	}
	m.Manifest.ID = fmt.Sprintf("%s/%s-%s", name, m.Manifest.Kind, hex.EncodeToString(id[:6]))
	return w
}

// Save writes the model to dir (created if missing): manifest.json and
// weights.bin. The same model always gives the same bytes.
func (m *Model) Save(dir string) error {
	w := m.seal()
	manifest, err := json.MarshalIndent(m.Manifest, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, weightsFile), w, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, manifestFile), append(manifest, '\n'), 0o644)
}

// LoadModel reads a model directory Save wrote and checks that the
// weights are those the manifest names.
func LoadModel(dir string) (*Model, error) {
	data, err := os.ReadFile(filepath.Join(dir, manifestFile))
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", dir, err)
	}
	var mf ModelManifest
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&mf); err != nil {
		return nil, fmt.Errorf("model %s: %s: %w", dir, manifestFile, err)
	}
	if mf.Format != modelFormat {
		return nil, fmt.Errorf("model %s: format %d, this tousu reads format %d: train it again", dir, mf.Format, modelFormat)
	}
	if mf.Kind != KindLogistic && mf.Kind != KindNaiveBayes || len(mf.Categories) < 2 || !slices.IsSorted(mf.Categories) ||
		mf.Features.HashBits < 10 || mf.Features.HashBits > 22 || mf.Temperature <= 0 || mf.Weights != weightsFile {
		return nil, fmt.Errorf("model %s: %s is not a manifest tousu policy train wrote", dir, manifestFile)
	}
	w, err := os.ReadFile(filepath.Join(dir, mf.Weights))
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", dir, err)
	}
	if sum := sha256.Sum256(w); hex.EncodeToString(sum[:]) != mf.WeightsSHA256 {
		return nil, fmt.Errorf("model %s: %s does not match the manifest's weights_sha256 (changed or truncated)", dir, mf.Weights)
	}
	lin, err := decodeWeights(w, mf.Kind, len(mf.Categories), mf.Features.HashBits)
	if err != nil {
		return nil, fmt.Errorf("model %s: %s: %w", dir, mf.Weights, err)
	}
	return &Model{Manifest: mf, lin: lin}, nil
}

// CheckFor fails, naming both, when the model was trained for another
// pack, pack version or category set than p's.
func (m *Model) CheckFor(p *Pack) error {
	mf := m.Manifest
	var diffs []string
	if mf.Pack != p.Name || mf.PackVersion != p.Version {
		diffs = append(diffs, fmt.Sprintf("the model was trained for pack %s@%s, this is pack %s@%s", mf.Pack, mf.PackVersion, p.Name, p.Version))
	}
	if cats := packCategories(p); !slices.Equal(cats, mf.Categories) {
		var missing, extra []string
		for _, c := range cats {
			if !slices.Contains(mf.Categories, c) {
				missing = append(missing, c)
			}
		}
		for _, c := range mf.Categories {
			if !slices.Contains(cats, c) {
				extra = append(extra, c)
			}
		}
		diffs = append(diffs, fmt.Sprintf("its categories differ from the pack's (the model lacks [%s], has [%s] the pack does not)", strings.Join(missing, " "), strings.Join(extra, " ")))
	}
	if len(diffs) > 0 {
		return fmt.Errorf("model %s refused: %s; train it again with tousu policy train for this pack", mf.ID, strings.Join(diffs, "; "))
	}
	return nil
}
