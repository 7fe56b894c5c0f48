package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fleetproof/fleetproof/collector/internal/api"
	"github.com/fleetproof/fleetproof/internal/settings"
)

func init() {
	register(command{name: "token", order: 60, run: runToken,
		summary: "token create|list|revoke   API tokens (admin, analyst, auditor with granted controls and period)"})
}

func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("token: want create, list or revoke")
	}
	switch args[0] {
	case "create":
		return tokenCreate(ctx, args[1:], stdout, stderr)
	case "list":
		return tokenList(ctx, args[1:], stdout, stderr)
	case "revoke":
		return tokenRevoke(ctx, args[1:], stdout, stderr)
	}
	return fmt.Errorf("token: unknown subcommand %q (want create, list or revoke)", args[0])
}

func tokenCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var name, role, controls, from, to, by string
	var valid time.Duration
	cfg, _, err := loadConfig("token create", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&name, "name", "", "what the token is for (e.g. \"Acme audit 2026\")")
		fs.StringVar(&role, "role", "", "admin, analyst or auditor")
		fs.StringVar(&controls, "controls", "", "auditor: granted controls, comma-separated (e.g. CC6.1,CC7.1)")
		fs.StringVar(&from, "from", "", "auditor: first day of the granted period (YYYY-MM-DD)")
		fs.StringVar(&to, "to", "", "auditor: last day of the granted period (YYYY-MM-DD)")
		fs.DurationVar(&valid, "valid-for", 90*24*time.Hour, "how long the token works")
		fs.StringVar(&by, "by", os.Getenv("USER"), "who creates it (kept with the token)")
	})
	if err != nil {
		return err
	}
	r, err := api.ParseRole(role)
	if err != nil {
		return fmt.Errorf("token create: -role: %w", err)
	}
	if name == "" {
		return errors.New("token create: -name is required")
	}
	now := time.Now()
	tok, bearer, err := api.NewToken(name, r, by, now.Add(valid), now)
	if err != nil {
		return err
	}
	if r == api.RoleAuditor {
		tok.Controls = settings.SplitList(controls)
		if len(tok.Controls) == 0 || from == "" || to == "" {
			return errors.New("token create: an auditor token needs -controls, -from and -to")
		}
		if tok.PeriodFrom, err = time.ParseInLocation(time.DateOnly, from, time.UTC); err != nil {
			return fmt.Errorf("token create: -from: %w", err)
		}
		if tok.PeriodTo, err = time.ParseInLocation(time.DateOnly, to, time.UTC); err != nil {
			return fmt.Errorf("token create: -to: %w", err)
		}
		tok.PeriodTo = tok.PeriodTo.Add(24*time.Hour - time.Second)
		if tok.PeriodTo.Before(tok.PeriodFrom) {
			return errors.New("token create: -to is before -from")
		}
	} else if controls != "" || from != "" || to != "" {
		return errors.New("token create: -controls, -from and -to apply to auditor tokens only")
	}
	st, err := openStore(ctx, cfg, stderr)
	if err != nil {
		return fmt.Errorf("token create: %w", err)
	}
	defer st.Close()
	if err := st.PutToken(ctx, tok); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "token %s (%s, role %s) valid until %s; it is shown once:\n", tok.ID, tok.Name, tok.Role, tok.Expires.Format(time.RFC3339))
	fmt.Fprintln(stdout, bearer)
	return nil
}

func tokenList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, _, err := loadConfig("token list", args, stderr, nil)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, cfg, stderr)
	if err != nil {
		return fmt.Errorf("token list: %w", err)
	}
	defer st.Close()
	toks, err := st.Tokens(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tROLE\tGRANT\tEXPIRES\tSTATE")
	for _, t := range toks {
		grant := "-"
		if len(t.Controls) > 0 {
			grant = strings.Join(t.Controls, ",") + " " + t.PeriodFrom.Format(time.DateOnly) + ".." + t.PeriodTo.Format(time.DateOnly)
		}
		state := "active"
		switch {
		case t.RevokedAt.Unix() > 0:
			state = "revoked " + t.RevokedAt.Format(time.DateOnly)
		case time.Now().After(t.Expires):
			state = "expired"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Role, grant, t.Expires.Format(time.DateOnly), state)
	}
	return tw.Flush()
}

func tokenRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var id string
	cfg, _, err := loadConfig("token revoke", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&id, "id", "", "token id (as in token list)")
	})
	if err != nil {
		return err
	}
	st, err := openStore(ctx, cfg, stderr)
	if err != nil {
		return fmt.Errorf("token revoke: %w", err)
	}
	defer st.Close()
	t, err := st.Token(ctx, id)
	if err != nil {
		return fmt.Errorf("token revoke: %w", err)
	}
	t.RevokedAt = time.Now().UTC()
	if err := st.PutToken(ctx, t); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "revoked token %s (%s); collectors stop accepting it within 30s\n", t.ID, t.Name)
	return nil
}
