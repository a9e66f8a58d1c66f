// Command tousu is the complaint intake gateway: `tousu serve` runs it
// (embedded by default, or chosen targets against Kafka), `tousu validate`
// checks a configuration without starting anything, `tousu topics apply`
// creates the Kafka topics, `tousu policy` tests, explains and trains policy packs,
// `tousu users` manages the console's accounts of a running deployment,
// `tousu dlq` lists, shows and replays its dead letters, `tousu privacy`
// exports or erases a customer's personal information and `tousu
// version` says what was built. Every command answers -help
// with its flags and examples; the exit code is 0 when it succeeded, 1
// when it failed and 2 when it was called wrongly.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/tousu/tousu/configs"
	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/ingest/csvdrop"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/services/app"
	"github.com/tousu/tousu/services/bus"
	"github.com/tousu/tousu/sinks/esindex"
)

func main() {
	os.Exit(run(os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

// stdin is where policy explain reads; tests replace it.
var stdin io.Reader = os.Stdin

// version and buildDate describe a release build; the README gives the
// build line that sets them with -ldflags "-X main.version=… -X main.buildDate=…".
var version, buildDate string

// Exit codes of every command.
const (
	exitOK      = 0 // done, or help asked for
	exitFailure = 1 // the work failed: invalid configuration, failed golden test, start failure
	exitUsage   = 2 // called wrongly: unknown command or flag, missing or extra argument
)

// cmdIO is what a command reads and writes.
type cmdIO struct {
	environ        []string
	stdin          io.Reader
	stdout, stderr io.Writer
}

// command is one tousu command with its own flags and help.
type command struct {
	name     string // as typed after tousu: "serve", "policy explain"
	args     string // what follows the name in the usage line
	purpose  string // one line
	examples []string
	// takesArgs says whether arguments may follow the flags; a command
	// that takes none refuses them.
	takesArgs bool
	// define registers the command's flags on fl and returns what runs
	// it, with its arguments, once they are parsed.
	define func(c *command, fl *flag.FlagSet) func(args []string, x cmdIO) int
}

// commands lists every command, in the order the help shows them.
var commands = []*command{
	{
		name:    "serve",
		args:    "[-config FILE] [-data DIR] [-http ADDR] [-target LIST] [-broker-listen ADDR]",
		purpose: "Run tousu: every component in one process with an embedded broker and index, or the chosen targets against Kafka.",
		examples: []string{
			"tousu serve",
			"tousu serve -config configs/distributed.yaml -target router",
			"tousu serve -config configs/distributed.yaml -target escalator,batcher -data /var/lib/tousu",
			"TOUSU_KAFKA_BROKERS=127.0.0.1:9092 tousu serve -target gateway,console -http 0.0.0.0:8080",
		},
		define: serve,
	},
	{
		name:    "validate",
		args:    "[-config FILE] [-target LIST] [POLICY_PACK ...]",
		purpose: "Check a configuration (with the policy packs it names) and policy pack files without starting anything; with neither, the built-in defaults with the environment. -print writes the effective configuration (environment and defaults applied, secrets redacted) as YAML.",
		examples: []string{
			"tousu validate",
			"tousu validate -config configs/distributed.yaml -target gateway",
			"tousu validate -print -config configs/embedded.yaml",
			"tousu validate configs/policies/hotel.yaml builtin:telecom",
		},
		takesArgs: true,
		define:    validate,
	},
	{
		name:    "topics apply",
		args:    "[-config FILE]",
		purpose: "Create the declared topics on the configured Kafka brokers and check the existing ones.",
		examples: []string{
			"TOUSU_KAFKA_BROKERS=127.0.0.1:9092 tousu topics apply",
			"tousu topics apply -config configs/distributed.yaml",
		},
		define: applyTopics,
	},
	{
		name:    "index apply",
		args:    "[-config FILE]",
		purpose: "Create the Elasticsearch index template, the versioned index and its alias, or check the existing ones.",
		examples: []string{
			"TOUSU_ELASTICSEARCH_URLS=https://es.example.com:9200 tousu index apply",
			"tousu index apply -config configs/distributed.yaml",
		},
		define: applyIndex,
	},
	{
		name:      "policy test",
		args:      "[-model DIR] PACK_OR_GOLDEN_FILE",
		purpose:   "Run a policy pack's golden tests (PACK.golden.yaml beside the pack) and check its classifier.",
		examples:  []string{"tousu policy test configs/policies/telecom.yaml", "tousu policy test -model models/telecom configs/policies/telecom.yaml"},
		takesArgs: true,
		define:    policyTest,
	},
	{
		name:    "policy train",
		args:    "-pack PACK -examples FILE -out DIR [-report FILE] [-heldout FILE] [-text-col COL -label-col COL] [-label-map FILE] [-corrections-from FILE]",
		purpose: "Train a category model for a pack from labelled work orders (and agents' corrections): cross-validated, calibrated, with an abstain threshold; routers load it when the pack or configuration names it.",
		examples: []string{
			"tousu policy train -pack configs/policies/telecom.yaml -examples history.csv -out models/telecom -report report.md",
			"tousu policy train -pack builtin:telecom -examples 工单.tsv -text-col 工单内容 -label-col 工单分类 -label-map labels.yaml -out models/telecom",
			"tousu policy train -pack configs/policies/telecom.yaml -corrections-from data/router-history.db -export-corrections corrections.csv",
		},
		define: policyTrain,
	},
	{
		name:    "policy explain",
		args:    "-pack PACK [-model DIR] [-received TIME] [-channel CHANNEL] [-jsonl] < COMPLAINT",
		purpose: "Print a policy pack's decision for a complaint on standard input: type, category, validity, grade, deadlines, route and why.",
		examples: []string{
			"echo '手机信号差了三天' | tousu policy explain -pack builtin:telecom -received 2026-09-30T10:00:00+08:00",
			"tousu policy explain -pack configs/policies/hotel.yaml -received '2026-10-01 09:30' < complaint.txt",
			"tousu policy explain -pack builtin:telecom -jsonl < complaints.jsonl",
		},
		takesArgs: true,
		define:    explain,
	},
	{
		name:    "users add",
		args:    "-name NAME [-display NAME] [-role ROLE] [-departments LIST] [-url URL] [-token-file FILE] < PASSWORD",
		purpose: "Create a console account on a running deployment; the password is the first line of standard input, and must be changed at the first sign-in.",
		examples: []string{
			"printf '%s\\n' \"$PASSWORD\" | tousu users add -name zhang.wei -display 张伟 -role agent -departments 客服部,网络部",
			"tousu users add -name wang.fang -role supervisor -url http://console.internal:8080 -token-file /etc/tousu/admin-token < password.txt",
		},
		define: usersAdd,
	},
	{
		name:     "users passwd",
		args:     "-name NAME [-url URL] [-token-file FILE] < PASSWORD",
		purpose:  "Set a console account's password (the first line of standard input); its holder must change it at the next sign-in.",
		examples: []string{"printf '%s\\n' \"$PASSWORD\" | tousu users passwd -name zhang.wei", "TOUSU_TOKEN=... tousu users passwd -name admin < new-password.txt"},
		define:   usersPasswd,
	},
	{
		name:     "users disable",
		args:     "-name NAME [-url URL] [-token-file FILE]",
		purpose:  "Disable a console account: it can no longer sign in.",
		examples: []string{"tousu users disable -name zhang.wei", "tousu users disable -name li.na -data /var/lib/tousu"},
		define:   usersDisable,
	},
	{
		name:     "users list",
		args:     "[-url URL] [-token-file FILE]",
		purpose:  "List the console accounts of a running deployment as a table.",
		examples: []string{"tousu users list", "TOUSU_TOKEN=$(cat admin-token) tousu users list -url http://console.internal:8080"},
		define:   usersList,
	},
	{
		name:    "dlq list",
		args:    "[-source SOURCE] [-reason REASON] [-limit N] [-url URL] [-token-file FILE]",
		purpose: "List the dead letters of a running deployment: counts by source and reason, then the newest entries. Needs an ops or admin token.",
		examples: []string{
			"TOUSU_TOKEN=$(cat ops-token) tousu dlq list -url http://console.internal:8080",
			"tousu dlq list -source complaints.raw -reason 'invalid envelope'",
		},
		define: dlqList,
	},
	{
		name:     "dlq show",
		args:     "-id ID [-url URL] [-token-file FILE]",
		purpose:  "Show one dead letter: its payload in full with an ops token (each view is recorded), masked with an admin token.",
		examples: []string{"TOUSU_TOKEN=$(cat ops-token) tousu dlq show -id 3-1742"},
		define:   dlqShow,
	},
	{
		name:    "dlq replay",
		args:    "-id IDS | [-source SOURCE] [-reason REASON] [-url URL] [-token-file FILE]",
		purpose: "Send dead letters back to the topic they came from, after a fix: by id, or every one a filter selects. Each is replayed once; a complaint already processed does not become a second case.",
		examples: []string{
			"tousu dlq replay -id 3-1742,0-88",
			"TOUSU_TOKEN=$(cat ops-token) tousu dlq replay -source complaints.raw -reason 'handler panic'",
		},
		define: dlqReplay,
	},
	{
		name:    "privacy export",
		args:    "-phone NUMBER | -email ADDRESS | -id-number NUMBER | -reference REFERENCE [-url URL] [-token-file FILE]",
		purpose: "Print everything a running deployment holds about a customer as JSON (查阅、复制): their cases with history, contacts and attachments. Needs an admin token; each export is audited.",
		examples: []string{
			"tousu privacy export -phone '139 8765 4321' > export.json",
			"TOUSU_TOKEN=$(cat admin-token) tousu privacy export -reference TS4NPHBAY156 -url http://console.internal:8080",
		},
		define: privacyExport,
	},
	{
		name:    "privacy erase",
		args:    "-phone NUMBER | -email ADDRESS | -id-number NUMBER | -reference REFERENCE -reason TEXT [-url URL] [-token-file FILE]",
		purpose: "Erase a customer's personal information from every case (删除): names, contacts, numbers and addresses in the text, attachments; statistics stay. Needs an admin token; audited; safe to repeat.",
		examples: []string{
			"tousu privacy erase -phone 13987654321 -reason '客户12月6日来电申请删除'",
			"tousu privacy erase -email qianxh@example.cn -reason '书面申请，编号 SQ-2026-118'",
		},
		define: privacyErase,
	},
	{
		name:     "version",
		purpose:  "Print tousu's version, the commit it was built from, the Go version and the build date.",
		examples: []string{"tousu version"},
		define:   printVersion,
	},
}

// run runs the command args name with the environment and outputs given
// and returns its exit code.
func run(args, environ []string, stdout, stderr io.Writer) int {
	x := cmdIO{environ: environ, stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage(""))
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help":
		fmt.Fprint(stdout, usage(""))
		return exitOK
	case "help": // tousu help [COMMAND [SUBCOMMAND]]
		if len(args) == 1 {
			fmt.Fprint(stdout, usage(""))
			return exitOK
		}
		return run(append(args[1:len(args):len(args)], "-help"), environ, stdout, stderr)
	case "-version", "--version":
		args = []string{"version"}
	}
	if c := find(args[0]); c != nil {
		return c.exec(args[1:], x)
	}
	if !isGroup(args[0]) {
		fmt.Fprintf(stderr, "tousu: unknown command %q\n\n%s", args[0], usage(""))
		return exitUsage
	}
	group := args[0]
	switch {
	case len(args) == 1:
		fmt.Fprintf(stderr, "tousu %s: which one?\n\n%s", group, usage(group))
		return exitUsage
	case isHelp(args[1]):
		fmt.Fprint(stdout, usage(group))
		return exitOK
	}
	if c := find(group + " " + args[1]); c != nil {
		return c.exec(args[2:], x)
	}
	fmt.Fprintf(stderr, "tousu %s: unknown subcommand %q\n\n%s", group, args[1], usage(group))
	return exitUsage
}

// find returns the command of that name, or nil.
func find(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// isGroup reports whether name is the first word of commands of two words
// ("policy" of "policy test").
func isGroup(name string) bool {
	for _, c := range commands {
		if strings.HasPrefix(c.name, name+" ") {
			return true
		}
	}
	return false
}

// usage is the overview of every command, or of a group's commands.
func usage(group string) string {
	var b strings.Builder
	if group == "" {
		b.WriteString("tousu — omnichannel complaint intake gateway\n\n")
	}
	b.WriteString("Usage:\n")
	for _, c := range commands {
		if group == "" || strings.HasPrefix(c.name, group+" ") {
			fmt.Fprintf(&b, "  tousu %s\n      %s\n", strings.TrimSpace(c.name+" "+c.args), c.purpose)
		}
	}
	name := "COMMAND"
	if group != "" {
		name = group + " COMMAND"
	}
	fmt.Fprintf(&b, "\n`tousu %s -help` shows a command's flags and examples.\n", name)
	if group == "" {
		fmt.Fprintf(&b, "Targets: %s.\n", targetList())
		b.WriteString("Exit codes: 0 done, 1 failed, 2 called wrongly (unknown command or flag, missing or extra argument).\n")
	}
	return b.String()
}

// targetList names the targets -target takes.
func targetList() string {
	names := []string{"all (default)"}
	for _, t := range app.Targets {
		names = append(names, string(t))
	}
	return strings.Join(names, ", ")
}

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}

// exec parses the command's flags and arguments and runs it.
func (c *command) exec(args []string, x cmdIO) int {
	fl := c.flags(x.stderr)
	act := c.define(c, fl)
	rest, code, done := c.parse(fl, args, x.stdout)
	if done {
		return code
	}
	if !c.takesArgs && !c.noArgs(rest, x.stderr) {
		return exitUsage
	}
	return act(rest, x)
}

// flags returns the command's flag set; its errors go to stderr with a
// pointer to the help.
func (c *command) flags(stderr io.Writer) *flag.FlagSet {
	fl := flag.NewFlagSet("tousu "+c.name, flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() { fmt.Fprintf(fl.Output(), "`tousu %s -help` shows its flags and examples\n", c.name) }
	return fl
}

// help writes the command's purpose, usage line, flags and examples.
func (c *command) help(fl *flag.FlagSet, w io.Writer) {
	fmt.Fprintf(w, "%s\n\nUsage:\n  tousu %s\n", c.purpose, strings.TrimSpace(c.name+" "+c.args))
	hasFlags := false
	fl.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		fmt.Fprint(w, "\nFlags:\n")
		out := fl.Output()
		fl.SetOutput(w)
		fl.PrintDefaults()
		fl.SetOutput(out)
	}
	if fl.Lookup("target") != nil {
		fmt.Fprintf(w, "\nTargets (-target):\n%s", app.TargetHelp())
	}
	fmt.Fprint(w, "\nExamples:\n")
	for _, e := range c.examples {
		fmt.Fprintf(w, "  %s\n", e)
	}
	fmt.Fprint(w, "\nExit codes: 0 done, 1 failed, 2 called wrongly.\n")
}

// parse reads flags and arguments in any order and returns the arguments
// (all that follows "--" is an argument). When args ask for help anywhere
// it prints the command's help and returns done with exitOK; a bad flag
// returns done with exitUsage.
func (c *command) parse(fl *flag.FlagSet, args []string, stdout io.Writer) (rest []string, code int, done bool) {
	for _, a := range args {
		if a == "--" {
			break
		}
		if isHelp(a) {
			c.help(fl, stdout)
			return nil, exitOK, true
		}
	}
	for {
		if err := fl.Parse(args); err != nil {
			return nil, exitUsage, true
		}
		left := fl.Args()
		if n := len(args) - len(left); (n > 0 && args[n-1] == "--") || len(left) == 0 {
			return append(rest, left...), exitOK, false
		}
		rest, args = append(rest, left[0]), left[1:]
	}
}

// noArgs refuses arguments to a command that takes none, suggesting
// -config for what looks like a configuration file.
func (c *command) noArgs(args []string, stderr io.Writer) bool {
	if len(args) == 0 {
		return true
	}
	if strings.HasSuffix(args[0], ".yaml") || strings.HasSuffix(args[0], ".yml") {
		fmt.Fprintf(stderr, "tousu %s: unexpected argument %q: did you mean tousu %s -config %s?\n", c.name, args[0], c.name, args[0])
	} else {
		fmt.Fprintf(stderr, "tousu %s: unexpected argument %q; `tousu %s -help` shows what it takes\n", c.name, args[0], c.name)
	}
	return false
}

// options are the flags that choose a configuration and what to run.
type options struct {
	config, data, http, target, brokerListen string
}

// configFlag registers -config.
func (o *options) configFlag(fl *flag.FlagSet) {
	fl.StringVar(&o.config, "config", "", "configuration `FILE` (YAML); none = the built-in defaults (configs/embedded.yaml spells them out)")
}

// targetFlag registers -target.
func (o *options) targetFlag(fl *flag.FlagSet) {
	fl.StringVar(&o.target, "target", "all", "components to run, a comma-separated `LIST` (the targets are below)")
}

// load returns the effective configuration (app.Load, with the flags
// applied before the defaults) and the targets it runs.
func load(o options, fl *flag.FlagSet, environ []string) (app.Config, []app.Target, error) {
	set := map[string]bool{}
	fl.Visit(func(f *flag.Flag) { set[f.Name] = true })
	cfg, err := app.Load(o.config, environ, func(c *app.Config) {
		if set["data"] {
			c.DataDir = o.data
		}
		if set["http"] {
			c.HTTP.Listen = o.http
		}
		switch {
		case set["broker-listen"]:
			c.Broker.Listen = o.brokerListen
		case c.Broker.Listen == "" && o.target == string(app.TargetBroker):
			c.Broker.Listen = "127.0.0.1:9092"
		}
	})
	if err != nil {
		return cfg, nil, err
	}
	var targets []app.Target
	if o.target != "" { // topics apply runs no target
		if targets, err = app.ParseTargets(o.target, cfg.Embedded()); err != nil {
			return cfg, nil, err
		}
	}
	return cfg, targets, app.CheckTargets(&cfg, targets)
}

// serve runs the chosen targets until a signal stops them.
func serve(_ *command, fl *flag.FlagSet) func([]string, cmdIO) int {
	o := options{}
	o.configFlag(fl)
	fl.StringVar(&o.data, "data", "", "data `DIR`ectory (default ./data, or data_dir from the config)")
	fl.StringVar(&o.http, "http", "", "HTTP listen `ADDR`ess (default 127.0.0.1:8080)")
	o.targetFlag(fl)
	fl.StringVar(&o.brokerListen, "broker-listen", "", "listen `ADDR`ess of the embedded broker (default 127.0.0.1:0 with -target all, 127.0.0.1:9092 with -target broker)")
	return func(_ []string, x cmdIO) int {
		cfg, targets, err := load(o, fl, x.environ)
		if err != nil {
			fmt.Fprintf(x.stderr, "tousu: %v\n", err)
			return exitFailure
		}
		logger, err := newLogger(cfg.Log.Level, x.stderr)
		if err != nil {
			fmt.Fprintf(x.stderr, "tousu: %v\n", err)
			return exitFailure
		}
		defer logger.Sync() //nolint:errcheck // nothing to do if stderr is gone
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		p, err := app.Start(ctx, cfg, targets, logger, x.stdout)
		if err != nil {
			logger.Error("start failed", zap.Error(err))
			return exitFailure
		}
		if err := p.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			logger.Error("stopped with an error", zap.Error(err))
			return exitFailure
		}
		return exitOK
	}
}

// validate checks a configuration and policy packs without starting anything.
func validate(_ *command, fl *flag.FlagSet) func([]string, cmdIO) int {
	o := options{}
	o.configFlag(fl)
	o.targetFlag(fl)
	printConfig := fl.Bool("print", false, "write the effective configuration (after the environment and the defaults) as YAML to standard output, every secret redacted")
	return func(packs []string, x cmdIO) int {
		code := exitOK
		report := func(name string, err error) {
			if err != nil {
				fmt.Fprintf(x.stderr, "tousu: %s: invalid:\n%v\n", name, err)
				code = max(code, exitFailure)
				return
			}
			okTo := x.stdout
			if *printConfig { // standard output is the YAML alone
				okTo = x.stderr
			}
			fmt.Fprintf(okTo, "tousu: %s: ok\n", name)
		}
		if o.config != "" || len(packs) == 0 {
			name := o.config
			if name == "" {
				name = "the built-in defaults with the environment"
			}
			cfg, _, err := load(o, fl, x.environ)
			if err == nil {
				_, err = cfg.LoadPolicies(time.Now())
			}
			if err == nil && *printConfig {
				var text []byte
				if text, err = cfg.YAML(); err == nil {
					_, err = x.stdout.Write(text)
				}
			}
			report(name, err)
		}
		for _, p := range packs {
			_, err := router.LoadPack(p)
			if err != nil && isConfig(p) {
				fmt.Fprintf(x.stderr, "tousu validate: %s is a configuration, not a policy pack: did you mean tousu validate -config %s?\n", p, p)
				code = exitUsage
				continue
			}
			report(p, packHint(p, err))
		}
		return code
	}
}

// isConfig reports whether the file at path is a tousu configuration.
func isConfig(path string) bool {
	_, err := app.Decode(path)
	return err == nil
}

// packHint adds to an error loading the pack at path, when there is no
// such file or built-in pack, the names of the built-in packs.
func packHint(path string, err error) error {
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	packs := builtinPacks()
	if strings.HasPrefix(path, router.BuiltinPrefix) {
		return fmt.Errorf("%s: no such built-in pack; the built-in packs are %s", path, strings.Join(packs, ", "))
	}
	if name := router.BuiltinPrefix + strings.TrimSuffix(path, ".yaml"); slices.Contains(packs, name) {
		return fmt.Errorf("%w: did you mean %s, the pack built into tousu?", err, name)
	}
	return fmt.Errorf("%w; a pack built into tousu is named builtin:NAME, one of %s", err, strings.Join(packs, ", "))
}

// builtinPacks names the packs built into the binary.
func builtinPacks() []string {
	files, _ := fs.Glob(configs.Policies, "policies/*.yaml") // the pattern is valid
	var out []string
	for _, f := range files {
		if !strings.HasSuffix(f, ".golden.yaml") {
			out = append(out, router.BuiltinPrefix+strings.TrimSuffix(path.Base(f), ".yaml"))
		}
	}
	return out
}

// applyTopics creates the declared topics on the configured Kafka brokers
// and checks the existing ones, as every process does at start.
func applyTopics(_ *command, fl *flag.FlagSet) func([]string, cmdIO) int {
	return applying(fl, func(ctx context.Context, cfg app.Config, x cmdIO) int {
		if cfg.Embedded() {
			fmt.Fprintf(x.stderr, "tousu topics apply: no Kafka brokers: set bus.brokers or %s (the embedded broker applies the topics itself at start)\n", app.EnvKafkaBrokers)
			return exitUsage
		}
		specs, err := bus.LoadTopics(cfg.Bus)
		if err != nil {
			fmt.Fprintf(x.stderr, "tousu: %v\n", err)
			return exitFailure
		}
		results, err := bus.ApplyTopics(ctx, cfg.Bus, specs)
		if err != nil {
			fmt.Fprintf(x.stderr, "tousu: %v\n", err)
			return exitFailure
		}
		for _, r := range results {
			state := "ok"
			if r.Created {
				state = "created"
			}
			fmt.Fprintf(x.stdout, "%-24s %-8s %d partitions\n", r.Name, state, r.Partitions)
		}
		return exitOK
	})
}

// applyIndex creates the index template, the versioned index and its
// alias on the configured Elasticsearch, or checks them, as every indexer
// and console does at start; a Job runs it before the services start.
func applyIndex(_ *command, fl *flag.FlagSet) func([]string, cmdIO) int {
	return applying(fl, func(ctx context.Context, cfg app.Config, x cmdIO) int {
		if cfg.Index.Backend != "elasticsearch" {
			fmt.Fprintf(x.stderr, "tousu index apply: the index is %s, which creates itself at start; set index.backend: elasticsearch or %s\n", cfg.Index.Backend, app.EnvESURLs)
			return exitUsage
		}
		index, err := esindex.Open(ctx, cfg.Index.Elasticsearch, zap.NewNop(), nil)
		if err != nil {
			fmt.Fprintf(x.stderr, "tousu: %v\n", err)
			return exitFailure
		}
		defer index.Close()
		fmt.Fprintf(x.stdout, "alias %s → index %s (template %s), Elasticsearch %s\n", index.Alias(), index.IndexName(), index.IndexName(), index.ServerVersion())
		return exitOK
	})
}

// applying is the shape of the apply commands: -config, the configuration
// loaded (they run no target, so they need none of the targets' settings,
// such as the server secret), then apply within a minute.
func applying(fl *flag.FlagSet, apply func(context.Context, app.Config, cmdIO) int) func([]string, cmdIO) int {
	o := options{}
	o.configFlag(fl)
	return func(_ []string, x cmdIO) int {
		cfg, _, err := load(o, fl, x.environ)
		if err != nil {
			fmt.Fprintf(x.stderr, "tousu: %v\n", err)
			return exitFailure
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		return apply(ctx, cfg, x)
	}
}

// policyTest runs a pack's golden tests.
func policyTest(c *command, fl *flag.FlagSet) func([]string, cmdIO) int {
	model := fl.String("model", "", "decide categories with the model `DIR` tousu policy train wrote, instead of the one the pack names")
	return func(rest []string, x cmdIO) int {
		if len(rest) != 1 {
			fmt.Fprintf(x.stderr, "tousu policy test: give one pack or golden file, e.g. %s\n", c.examples[0])
			return exitUsage
		}
		passed, failed, err := router.TestPackModel(rest[0], *model, x.stdout)
		if errors.Is(err, fs.ErrNotExist) {
			err = fmt.Errorf("%w; give a pack file with its golden tests beside it, e.g. configs/policies/telecom.yaml", err)
		}
		if err != nil {
			fmt.Fprintf(x.stderr, "tousu: %v\n", err)
			return exitFailure
		}
		fmt.Fprintf(x.stdout, "%d passed, %d failed\n", passed, failed)
		if failed > 0 {
			return exitFailure
		}
		return exitOK
	}
}

// receivedFormats says which times -received takes.
const receivedFormats = "2026-09-30T10:00:00+08:00 (RFC 3339), 2026-09-30 10:00, 2026/9/30 or 2026年9月30日 10时; Beijing time unless a zone is given"

// explain prints the decision of a pack for text on standard input, or
// for one JSON object per line with -jsonl.
func explain(c *command, fl *flag.FlagSet) func([]string, cmdIO) int {
	pack := fl.String("pack", "", "policy pack: a `FILE`, or builtin:NAME for one built into tousu ("+strings.Join(builtinPacks(), ", ")+")")
	received := fl.String("received", "", "`TIME` the complaint was received, e.g. "+receivedFormats+"; default now")
	channel := fl.String("channel", "webform", "`CHANNEL` the complaint came by: webform, api, email, hotline, webhook")
	model := fl.String("model", "", "decide categories with the model `DIR` tousu policy train wrote, instead of the one the pack names")
	jsonl := fl.Bool("jsonl", false, "read one JSON object per line (text, received, channel, customer…) and write one decision per line")
	return func(rest []string, x cmdIO) int {
		if len(rest) > 0 {
			fmt.Fprintf(x.stderr, "tousu policy explain: unexpected argument %q: the complaint is read from standard input, e.g. %s\n", rest[0], c.examples[0])
			return exitUsage
		}
		if *pack == "" {
			fmt.Fprintf(x.stderr, "tousu policy explain: -pack is required: a pack file, or builtin:NAME for one of %s\n", strings.Join(builtinPacks(), ", "))
			return exitUsage
		}
		at := time.Now()
		if *received != "" {
			t, ok := csvdrop.ParseTime(*received, nil)
			if !ok {
				fmt.Fprintf(x.stderr, "tousu policy explain: -received %q is not a time; give e.g. %s\n", *received, receivedFormats)
				return exitUsage
			}
			at = t
		}
		e, err := router.LoadEngine(*pack)
		if err != nil {
			fmt.Fprintf(x.stderr, "tousu: %v\n", packHint(*pack, err))
			return exitFailure
		}
		if *model != "" {
			if e, err = e.LoadModel(*model); err != nil {
				fmt.Fprintf(x.stderr, "tousu: %v\n", err)
				return exitFailure
			}
		}
		if *jsonl {
			if err := router.ExplainJSONL(e, x.stdin, x.stdout); err != nil {
				fmt.Fprintf(x.stderr, "tousu: %v\n", err)
				return exitFailure
			}
			return exitOK
		}
		text, err := io.ReadAll(io.LimitReader(x.stdin, ingest.MaxDescriptionBytes+1))
		if err != nil {
			fmt.Fprintf(x.stderr, "tousu: read standard input: %v\n", err)
			return exitFailure
		}
		v, err := router.Explain(e, string(text), at, ingest.Channel(*channel))
		if err != nil {
			fmt.Fprintf(x.stderr, "tousu: %v\n", err)
			return exitFailure
		}
		enc := json.NewEncoder(x.stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			fmt.Fprintf(x.stderr, "tousu: %v\n", err)
			return exitFailure
		}
		return exitOK
	}
}

// printVersion prints what was built.
func printVersion(*command, *flag.FlagSet) func([]string, cmdIO) int {
	return func(_ []string, x cmdIO) int {
		bi, _ := debug.ReadBuildInfo() // nil without build information
		fmt.Fprint(x.stdout, versionText(version, buildDate, bi))
		return exitOK
	}
}

// versionText describes a build: the version set with -ldflags, else the
// module's; the commit with its time and whether the tree had changes;
// the Go version and platform; and the build date set with -ldflags.
func versionText(version, buildDate string, bi *debug.BuildInfo) string {
	settings := map[string]string{}
	goVersion := runtime.Version()
	if bi != nil {
		for _, s := range bi.Settings {
			settings[s.Key] = s.Value
		}
		goVersion = bi.GoVersion
		if version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			version = bi.Main.Version
		}
	}
	or := func(s, otherwise string) string {
		if s == "" {
			return otherwise
		}
		return s
	}
	commit := "unknown"
	if rev := settings["vcs.revision"]; rev != "" {
		commit = rev
		if t := settings["vcs.time"]; t != "" {
			commit += " (" + t + ")"
		}
		if settings["vcs.modified"] == "true" {
			commit += " with uncommitted changes"
		}
	}
	platform := or(settings["GOOS"], runtime.GOOS) + "/" + or(settings["GOARCH"], runtime.GOARCH)
	return fmt.Sprintf("tousu %s\ncommit: %s\ngo:     %s %s\nbuilt:  %s\n",
		or(version, "(development build)"), commit, goVersion, platform, or(buildDate, "unknown"))
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
