package router

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/normalize"
)

// PacksConfig chooses the policy packs a deployment applies: one pack per
// channel or per webhook source, and one default pack for the rest.
//
//	packs:
//	  - path: builtin:telecom                    # the default (no channels, no sources)
//	  - path: configs/policies/property.yaml
//	    sources: [estate-crm]
type PacksConfig struct {
	Packs []PackRef `yaml:"packs"`
}

// PackRef is one pack and the complaints it decides. A pack with neither
// channels nor sources is the default; there must be exactly one.
type PackRef struct {
	Path     string   `yaml:"path"`
	Channels []string `yaml:"channels"`
	Sources  []string `yaml:"sources"`
	// Model is the directory of a model `tousu policy train` trained for
	// the pack (relative paths against the configuration's directory); it
	// takes precedence over the pack's own categories.model.
	Model string `yaml:"model"`
}

// Validate checks the selection without loading the packs.
func (c PacksConfig) Validate() error {
	var errs []error
	defaults := 0
	seen := map[string]string{}
	claim := func(key, path string) {
		if prev, ok := seen[key]; ok {
			errs = append(errs, fmt.Errorf("packs: %s is claimed by %s and %s", key, prev, path))
		}
		seen[key] = path
	}
	for i, p := range c.Packs {
		if strings.TrimSpace(p.Path) == "" {
			errs = append(errs, fmt.Errorf("packs[%d].path: must not be empty", i))
		}
		if len(p.Channels) == 0 && len(p.Sources) == 0 {
			defaults++
		}
		for _, ch := range p.Channels {
			if !slices.Contains(knownChannels, ingest.Channel(ch)) {
				errs = append(errs, fmt.Errorf("packs[%d].channels: unknown channel %q (one of %v)", i, ch, knownChannels))
			}
			claim("channel "+ch, p.Path)
		}
		for _, s := range p.Sources {
			claim("source "+s, p.Path)
		}
	}
	if len(c.Packs) == 0 {
		errs = append(errs, errors.New("packs: name at least one policy pack, e.g. builtin:telecom"))
	}
	if len(c.Packs) > 0 && defaults != 1 {
		errs = append(errs, fmt.Errorf("packs: need exactly one default pack (without channels and sources), found %d", defaults))
	}
	return errors.Join(errs...)
}

// Packs is the Policy of several packs: a complaint goes to the pack that
// claims its source, else the one that claims its channel, else the
// default. Safe for concurrent use.
type Packs struct {
	def       *Engine
	bySource  map[string]*Engine
	byChannel map[string]*Engine
	all       []*Engine
}

// LoadPacks loads and validates every pack of the configuration; relative
// paths are resolved against dir (the configuration file's directory), and
// "builtin:<name>" loads a pack shipped in the binary.
func LoadPacks(cfg PacksConfig, dir string) (*Packs, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(cfg.Packs) == 0 {
		return nil, errors.New("packs: no policy pack configured")
	}
	p := &Packs{bySource: map[string]*Engine{}, byChannel: map[string]*Engine{}}
	var errs []error
	for _, ref := range cfg.Packs {
		path := ref.Path
		if !filepath.IsAbs(path) && !strings.HasPrefix(path, BuiltinPrefix) {
			path = filepath.Join(dir, path)
		}
		e, err := LoadEngine(path)
		if err == nil && ref.Model != "" {
			model := ref.Model
			if !filepath.IsAbs(model) {
				model = filepath.Join(dir, model)
			}
			e, err = e.LoadModel(model)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p.all = append(p.all, e)
		if len(ref.Channels) == 0 && len(ref.Sources) == 0 {
			p.def = e
		}
		for _, ch := range ref.Channels {
			p.byChannel[ch] = e
		}
		for _, s := range ref.Sources {
			p.bySource[s] = e
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

// For returns the engine that decides the complaint.
func (p *Packs) For(c normalize.Complaint) *Engine {
	if e, ok := p.bySource[c.Source]; ok && c.Source != "" {
		return e
	}
	if e, ok := p.byChannel[string(c.Channel)]; ok {
		return e
	}
	return p.def
}

// Open implements Policy with the pack For chooses.
func (p *Packs) Open(c normalize.Complaint, now time.Time) Case {
	return p.For(c).Open(c, now)
}

// ByName returns the engine whose Name (name@version) a case records in
// Case.Pack, or nil; the case state machine needs it to start clocks.
func (p *Packs) ByName(name string) *Engine {
	for _, e := range p.all {
		if e.Name() == name {
			return e
		}
	}
	return nil
}

// Engines lists the loaded packs' engines, the default included.
func (p *Packs) Engines() []*Engine { return slices.Clone(p.all) }

// CheckCoverage fails when any pack's calendar does not cover now's year;
// call it at start.
func (p *Packs) CheckCoverage(now time.Time) error {
	var errs []error
	for _, e := range p.all {
		errs = append(errs, e.CheckCoverage(now))
	}
	return errors.Join(errs...)
}
