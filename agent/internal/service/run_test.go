package service

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// untilCancelled is work that behaves: it returns when asked to.
func untilCancelled(ctx context.Context, _ *slog.Logger) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestStopCancelsWorkAndWaitsForIt(t *testing.T) {
	returned := make(chan struct{})
	p := newProgram(context.Background(), func(ctx context.Context, log *slog.Logger) error {
		defer close(returned)
		return untilCancelled(ctx, log)
	}, time.Minute)
	if err := p.Start(nil); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(nil); err != nil {
		t.Fatalf("graceful stop reported %v", err)
	}
	select {
	case <-returned:
	default:
		t.Fatal("Stop returned before work did")
	}
}

func TestStopGivesUpAfterItsBound(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	p := newProgram(context.Background(), func(context.Context, *slog.Logger) error {
		<-release // ignores cancellation
		return nil
	}, 10*time.Millisecond)
	p.Start(nil)
	err := p.Stop(nil)
	if err == nil || !strings.Contains(err.Error(), "did not stop within 10ms") {
		t.Fatalf("err = %v, want the bound reported", err)
	}
}

func TestStopReportsWorkFailure(t *testing.T) {
	boom := errors.New("config: server_url is required")
	p := newProgram(context.Background(), func(context.Context, *slog.Logger) error { return boom }, time.Minute)
	p.Start(nil)
	p.wait() // returns because work ended on its own
	if err := p.Stop(nil); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
}

func TestExitOnlyWhenWorkEndsUnasked(t *testing.T) {
	for _, tc := range []struct {
		name     string
		stop     bool
		wantExit bool
	}{
		{"work fails on its own", false, true},
		{"service manager stopped it", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p *program
			p = newProgram(context.Background(), func(ctx context.Context, log *slog.Logger) error {
				if tc.stop {
					return untilCancelled(ctx, log)
				}
				return errors.New("boom")
			}, time.Minute)
			code := make(chan int, 1)
			watched := make(chan struct{})
			go func() {
				defer close(watched)
				p.exitIfWorkEndsOnItsOwn(func(c int) { code <- c })
			}()
			p.Start(nil)
			if tc.stop {
				p.Stop(nil)
			}
			<-watched
			select {
			case c := <-code:
				if !tc.wantExit || c != 1 {
					t.Errorf("exit(%d), want exit=%v", c, tc.wantExit)
				}
			default:
				if tc.wantExit {
					t.Error("did not exit")
				}
			}
		})
	}
}

// Run goes through kardianos' real Run for this machine's service system
// (no installation needed): Start, the wait, Stop.
func TestRunReturnsWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	errc := make(chan error, 1)
	var stderr bytes.Buffer
	go func() {
		errc <- Run(ctx, Options{}, slog.LevelInfo, &stderr, func(ctx context.Context, log *slog.Logger) error {
			close(started)
			return untilCancelled(ctx, log)
		})
	}()
	<-started
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("Run = %v, want a clean stop", err)
	}
}

func TestRunEndsWithWorkError(t *testing.T) {
	boom := errors.New("config: enroll_secret is required")
	var stderr bytes.Buffer
	err := Run(context.Background(), Options{}, slog.LevelInfo, &stderr, func(context.Context, *slog.Logger) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want %v so the process exits non-zero and gets restarted", err, boom)
	}
}
