// Command tousu is the complaint intake gateway: `tousu serve` runs it
// (embedded by default, or chosen targets against Kafka) and `tousu validate`
// checks a configuration without starting anything.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/app"
	"github.com/tousu/tousu/services/bus"
)

func main() {
	os.Exit(run(os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

// stdin is where policy explain reads; tests replace it.
var stdin io.Reader = os.Stdin

const usage = `tousu — omnichannel complaint intake gateway

Usage:
  tousu serve [-config FILE] [-data DIR] [-http ADDR] [-target LIST] [-broker-listen ADDR]
  tousu validate [-config FILE] [POLICY_PACK ...]
  tousu topics apply [-config FILE]
  tousu policy test PACK_OR_GOLDEN_FILE
  tousu policy explain -pack FILE -received RFC3339 [-channel C] [-jsonl] < text

Targets: all (default), broker, gateway, normalizer, router, indexer, console.
`

func run(args, environ []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], environ, stdout, stderr)
	case "validate":
		return validate(args[1:], environ, stdout, stderr)
	case "policy":
		return policy(args[1:], stdin, stdout, stderr)
	case "topics":
		if len(args) < 2 || args[1] != "apply" {
			fmt.Fprintf(stderr, "tousu topics: the only subcommand is apply\n\n%s", usage)
			return 2
		}
		return applyTopics(args[2:], environ, stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "tousu: unknown command %q\n\n%s", args[0], usage)
	return 2
}

// options are the flags of serve and validate.
type options struct {
	config, data, http, target, brokerListen string
}

func parse(name string, args []string, stderr io.Writer) (options, *flag.FlagSet, error) {
	var o options
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.config, "config", "", "configuration file (YAML); none = embedded defaults")
	fs.StringVar(&o.data, "data", "", "data directory (default ./data, or data_dir from the config)")
	fs.StringVar(&o.http, "http", "", "HTTP listen address (default 127.0.0.1:8080)")
	fs.StringVar(&o.target, "target", "all", "components to run: all, broker, gateway, normalizer, router, indexer, console")
	fs.StringVar(&o.brokerListen, "broker-listen", "", "listen address of the embedded broker (default 127.0.0.1:0 with -target all, 127.0.0.1:9092 with -target broker)")
	err := fs.Parse(args)
	return o, fs, err
}

// load reads the configuration and applies the flags over it.
func load(o options, fs *flag.FlagSet, environ []string) (app.Config, []app.Target, error) {
	cfg, err := app.Load(o.config, environ)
	if err != nil {
		return cfg, nil, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["data"] {
		cfg.DataDir = o.data
	}
	if set["http"] {
		cfg.HTTP.Listen = o.http
	}
	targets, err := app.ParseTargets(o.target, cfg.Embedded())
	if err != nil {
		return cfg, nil, err
	}
	switch {
	case set["broker-listen"]:
		cfg.Broker.Listen = o.brokerListen
	case cfg.Broker.Listen == "" && o.target == string(app.TargetBroker):
		cfg.Broker.Listen = "127.0.0.1:9092"
	}
	if err := cfg.Validate(); err != nil {
		return cfg, nil, err
	}
	return cfg, targets, app.CheckTargets(&cfg, targets)
}

func serve(args, environ []string, stdout, stderr io.Writer) int {
	o, fs, err := parse("serve", args, stderr)
	if err != nil {
		return 2
	}
	cfg, targets, err := load(o, fs, environ)
	if err != nil {
		fmt.Fprintf(stderr, "tousu: %v\n", err)
		return 1
	}
	logger, err := newLogger(cfg.Log.Level, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "tousu: %v\n", err)
		return 1
	}
	defer logger.Sync() //nolint:errcheck // nothing to do if stderr is gone
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	p, err := app.Start(ctx, cfg, targets, logger, stdout)
	if err != nil {
		logger.Error("start failed", zap.Error(err))
		return 1
	}
	if err := p.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		logger.Error("stopped with an error", zap.Error(err))
		return 1
	}
	return 0
}

func validate(args, environ []string, stdout, stderr io.Writer) int {
	o, fs, err := parse("validate", args, stderr)
	if err != nil {
		return 2
	}
	packs := fs.Args()
	if o.config == "" && len(packs) == 0 {
		fmt.Fprintln(stderr, "tousu validate: give -config FILE, policy pack files, or both")
		return 2
	}
	code := 0
	report := func(name string, err error) {
		if err != nil {
			fmt.Fprintf(stderr, "tousu: %s: invalid:\n%v\n", name, err)
			code = 1
			return
		}
		fmt.Fprintf(stdout, "tousu: %s: ok\n", name)
	}
	if o.config != "" {
		cfg, _, err := load(o, fs, environ)
		if err == nil {
			_, err = cfg.LoadPolicies(time.Now())
		}
		report(o.config, err)
	}
	for _, path := range packs {
		_, err := router.LoadPack(path)
		report(path, err)
	}
	return code
}

// applyTopics creates the declared topics on the configured Kafka brokers
// and checks the existing ones, as every process does at start.
func applyTopics(args, environ []string, stdout, stderr io.Writer) int {
	o, fs, err := parse("topics apply", args, stderr)
	if err != nil {
		return 2
	}
	cfg, _, err := load(o, fs, environ)
	if err != nil {
		fmt.Fprintf(stderr, "tousu: %v\n", err)
		return 1
	}
	if cfg.Embedded() {
		fmt.Fprintf(stderr, "tousu topics apply: no Kafka brokers: set bus.brokers or %s (the embedded broker applies the topics itself at start)\n", app.EnvKafkaBrokers)
		return 2
	}
	specs, err := bus.LoadTopics(cfg.Bus)
	if err != nil {
		fmt.Fprintf(stderr, "tousu: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	results, err := bus.ApplyTopics(ctx, cfg.Bus, specs)
	if err != nil {
		fmt.Fprintf(stderr, "tousu: %v\n", err)
		return 1
	}
	for _, r := range results {
		state := "ok"
		if r.Created {
			state = "created"
		}
		fmt.Fprintf(stdout, "%-24s %-8s %d partitions\n", r.Name, state, r.Partitions)
	}
	return 0
}

// policy runs a pack's golden tests or explains decisions.
func policy(args []string, in io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintf(stderr, "tousu policy: test or explain\n\n%s", usage)
		return 2
	}
	switch args[0] {
	case "test":
		if len(args) != 2 {
			fmt.Fprintln(stderr, "usage: tousu policy test PACK_OR_GOLDEN_FILE")
			return 2
		}
		passed, failed, err := router.TestPack(args[1], stdout)
		if err != nil {
			fmt.Fprintf(stderr, "tousu: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "%d passed, %d failed\n", passed, failed)
		if failed > 0 {
			return 1
		}
		return 0
	case "explain":
		return explain(args[1:], in, stdout, stderr)
	}
	fmt.Fprintf(stderr, "tousu policy: unknown subcommand %q\n", args[0])
	return 2
}

// explain prints the decision of a pack for text on standard input, or
// for one JSON object per line with -jsonl.
func explain(args []string, in io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("policy explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	pack := fs.String("pack", "", "policy pack file, or builtin:NAME")
	received := fs.String("received", "", "when the complaint was received (RFC 3339); default now")
	channel := fs.String("channel", "webform", "channel the complaint came by")
	jsonl := fs.Bool("jsonl", false, "read one JSON object per line (text, received, channel, customer…) and write one decision per line")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *pack == "" {
		fmt.Fprintln(stderr, "tousu policy explain: -pack FILE is required")
		return 2
	}
	e, err := router.LoadEngine(*pack)
	if err != nil {
		fmt.Fprintf(stderr, "tousu: %v\n", err)
		return 1
	}
	if *jsonl {
		if err := router.ExplainJSONL(e, in, stdout); err != nil {
			fmt.Fprintf(stderr, "tousu: %v\n", err)
			return 1
		}
		return 0
	}
	at := time.Now()
	if *received != "" {
		if at, err = time.Parse(time.RFC3339, *received); err != nil {
			fmt.Fprintf(stderr, "tousu: -received: %v\n", err)
			return 2
		}
	}
	text, err := io.ReadAll(io.LimitReader(in, ingest.MaxDescriptionBytes+1))
	if err != nil {
		fmt.Fprintf(stderr, "tousu: read standard input: %v\n", err)
		return 1
	}
	v, err := router.Explain(e, string(text), at, ingest.Channel(*channel))
	if err != nil {
		fmt.Fprintf(stderr, "tousu: %v\n", err)
		return 1
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(stderr, "tousu: %v\n", err)
		return 1
	}
	return 0
}

// newLogger returns a JSON logger on w at the given level.
func newLogger(level string, w io.Writer) (*zap.Logger, error) {
	lvl := zapcore.InfoLevel
	if level != "" {
		if err := lvl.Set(level); err != nil {
			return nil, err
		}
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	core := zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.AddSync(w), lvl)
	return zap.New(core), nil
}
