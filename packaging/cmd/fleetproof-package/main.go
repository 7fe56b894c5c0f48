package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/fleetproof/fleetproof/packaging/internal/pkg"
)

func main() {
	var o pkg.Options
	formats := flag.String("formats", strings.Join(pkg.Formats, ","), "comma-separated package formats")
	flag.StringVar(&o.Version, "version", "", "version: a tag (v1.2.3), git describe output or a commit")
	flag.StringVar(&o.Arch, "arch", runtime.GOARCH, "Go architecture the binaries were built for (amd64, arm64)")
	flag.StringVar(&o.AgentBinary, "agent", "", "linux fleetproof-agent binary (empty: no agent package)")
	flag.StringVar(&o.CollectorBinary, "collector", "", "linux fleetproof-collector binary (empty: no collector package)")
	flag.StringVar(&o.OutDir, "out", "dist", "output directory")
	flag.StringVar(&o.Maintainer, "maintainer", pkg.DefaultMaintainer, "Maintainer / Packager field")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "fleetproof-package: unexpected argument %q\n", flag.Arg(0))
		os.Exit(2)
	}
	for _, f := range strings.Split(*formats, ",") {
		if f = strings.TrimSpace(f); f != "" {
			o.Formats = append(o.Formats, f)
		}
	}
	artifacts, err := pkg.Run(o)
	for _, a := range artifacts {
		fmt.Printf("%s\t%d bytes\n", a.Path, a.Size)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleetproof-package:", err)
		os.Exit(1)
	}
}
