package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// stdio is where a command reads and writes; tests pass buffers.
type stdio struct {
	in       io.Reader
	out, err io.Writer
}

// command is one `lsrflow NAME` subcommand. Each lives in its own cmd_NAME.go file and is
// listed in commands(). run parses its own flags with newFlags.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, io stdio, args []string) error
}

// commands lists every subcommand. Keep it sorted by name.
func commands() []*command {
	cmds := []*command{
		benchCmd(),
		brokerCmd(),
		deadlettersCmd(),
		evalCmd(),
		genCmd(),
		exportCmd(),
		indexCmd(),
		lmCmd(),
		modelCmd(),
		ragCmd(),
		reindexCmd(),
		reportCmd(),
		retrieveCmd(),
		runCmd(),
		serveCmd(),
		synthCmd(),
		topicsCmd(),
		trainCmd(),
		vectorsCmd(),
		versionCmd(),
	}
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].name < cmds[j].name })
	return cmds
}

// usageError is a user mistake: printed as one line with a hint, exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// usagef reports a user mistake (bad flag, missing file, wrong format).
func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

func runCLI(ctx context.Context, args []string, sio stdio) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			return runCLI(ctx, []string{args[1], "--help"}, sio)
		}
		printTopHelp(sio.out)
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, sio, args[1:])
		var ue *usageError
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.As(err, &ue):
			fmt.Fprintf(sio.err, "lsrflow %s: %s (see 'lsrflow %s --help')\n", c.name, ue.msg, c.name)
			return 2
		default:
			fmt.Fprintf(sio.err, "lsrflow %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(sio.err, "lsrflow: unknown command %q (see 'lsrflow help')\n", args[0])
	return 2
}

func printTopHelp(w io.Writer) {
	fmt.Fprintln(w, "lsrflow: LM-supervised retriever training data, as a streaming dataflow.")
	fmt.Fprintln(w, "\nUsage: lsrflow COMMAND [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'lsrflow COMMAND --help' for the flags of a command.")
}

// flags wraps a FlagSet so that parse errors become one-line usage errors and --help prints
// the command's usage to stdout.
type flags struct {
	*flag.FlagSet
	synopsis string
	sio      stdio
}

// newFlags starts the flag set of a command; synopsis is the argument line shown in --help,
// description a paragraph below it.
func newFlags(sio stdio, name, synopsis, description string) *flags {
	fs := flag.NewFlagSet("lsrflow "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := &flags{FlagSet: fs, synopsis: synopsis, sio: sio}
	fs.Usage = func() {
		w := sio.out
		fmt.Fprintf(w, "Usage: lsrflow %s %s\n\n", name, synopsis)
		if description != "" {
			fmt.Fprintln(w, strings.TrimSpace(description))
			fmt.Fprintln(w)
		}
		fmt.Fprintln(w, "Flags:")
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return f
}

// parse parses args; --help prints usage and returns flag.ErrHelp; stray positional
// arguments are a usage error.
func (f *flags) parse(args []string) error {
	// The flag package calls Usage on every parse error; a mistake must print one line only,
	// so usage is printed here for --help alone.
	usage := f.Usage
	f.Usage = func() {}
	err := f.Parse(args)
	f.Usage = usage
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			f.Usage()
			return flag.ErrHelp
		}
		return usagef("%v", err)
	}
	if f.NArg() > 0 {
		return usagef("unexpected argument %q", f.Arg(0))
	}
	return nil
}

// require returns a usage error naming the first of the given flags left empty.
func (f *flags) require(names ...string) error {
	for _, n := range names {
		fl := f.Lookup(n)
		if fl != nil && fl.Value.String() == "" {
			return usagef("--%s is required", n)
		}
	}
	return nil
}

// mustExist returns a usage error when path does not exist.
func mustExist(flagName, path string) error {
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return usagef("--%s %s: no such file or directory", flagName, path)
		}
		return usagef("--%s %s: %v", flagName, path, err)
	}
	return nil
}
