package main

import (
	"context"
	"fmt"
	"runtime/debug"
)

func versionCmd() *command {
	return &command{name: "version", summary: "print the version", run: func(ctx context.Context, sio stdio, args []string) error {
		f := newFlags(sio, "version", "", "Prints lsrflow's module version and the Go version it was built with.")
		if err := f.parse(args); err != nil {
			return err
		}
		v, gov := "(devel)", ""
		if bi, ok := debug.ReadBuildInfo(); ok {
			v, gov = bi.Main.Version, bi.GoVersion
		}
		fmt.Fprintf(sio.out, "lsrflow %s %s\n", v, gov)
		return nil
	}}
}
