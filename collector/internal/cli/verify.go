package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/fleetproof/fleetproof/collector/internal/extract"
)

func init() {
	register(command{name: "verify", order: 32, run: runVerify,
		summary: "verify [-key FINGERPRINT] DIR   check an extract's signature and files offline"})
}

// runVerify needs no configuration or database: an auditor runs it on
// their own machine on the bundle they were given.
func runVerify(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fleetproof-collector verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	pin := fs.String("key", "", "expected signing key fingerprint (SHA256:...), obtained out of band")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: fleetproof-collector verify [-key FINGERPRINT] DIR")
		fs.PrintDefaults()
	}
	// Flags may come before or after DIR.
	var dirs []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		dirs = append(dirs, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(dirs) != 1 {
		fs.Usage()
		return errors.New("verify: want exactly one bundle directory")
	}
	res, err := extract.Verify(dirs[0], *pin)
	if err != nil {
		return err
	}
	for _, f := range res.Findings {
		fmt.Fprintf(stdout, "%-16s %-9s %s\n", f.File, strings.ToUpper(f.Kind), f.Detail)
	}
	if !res.OK() {
		var names []string
		for _, f := range res.Findings {
			if len(names) == 0 || names[len(names)-1] != f.File+" "+f.Kind {
				names = append(names, f.File+" "+f.Kind)
			}
		}
		return fmt.Errorf("verify: %s FAILED: %s", dirs[0], strings.Join(names, ", "))
	}
	m := res.Manifest
	fmt.Fprintf(stdout, "OK: %s: signature valid, %d files match the manifest, sample re-drawn with seed %d matches\n",
		dirs[0], res.Checked, m.Sample.Seed)
	fmt.Fprintf(stdout, "controls %s, period %s to %s (UTC), generated %s\n", strings.Join(m.Controls, ","),
		m.Period.From, m.Period.To, m.GeneratedAt.Format("2006-01-02T15:04:05Z07:00"))
	if *pin == "" {
		fmt.Fprintf(stdout, "signed by %s: compare it with the fingerprint obtained out of band, or pass -key\n", res.Fingerprint)
	} else {
		fmt.Fprintf(stdout, "signed by the expected key %s\n", res.Fingerprint)
	}
	return nil
}
