package service

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
)

// recorder is a kardianos service.Logger that keeps what it was given.
type recorder struct{ lines []string }

func (r *recorder) add(sev string, v ...any) error {
	r.lines = append(r.lines, sev+": "+fmt.Sprint(v...))
	return nil
}
func (r *recorder) Error(v ...any) error              { return r.add("E", v...) }
func (r *recorder) Warning(v ...any) error            { return r.add("W", v...) }
func (r *recorder) Info(v ...any) error               { return r.add("I", v...) }
func (r *recorder) Errorf(f string, a ...any) error   { return r.add("E", fmt.Sprintf(f, a...)) }
func (r *recorder) Warningf(f string, a ...any) error { return r.add("W", fmt.Sprintf(f, a...)) }
func (r *recorder) Infof(f string, a ...any) error    { return r.add("I", fmt.Sprintf(f, a...)) }

// syncRecorder is a recorder for concurrent writers.
type syncRecorder struct {
	mu sync.Mutex
	r  recorder
}

func (s *syncRecorder) Error(v ...any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.r.Error(v...)
}
func (s *syncRecorder) Warning(v ...any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.r.Warning(v...)
}
func (s *syncRecorder) Info(v ...any) error               { s.mu.Lock(); defer s.mu.Unlock(); return s.r.Info(v...) }
func (s *syncRecorder) Errorf(f string, a ...any) error   { return s.Error(fmt.Sprintf(f, a...)) }
func (s *syncRecorder) Warningf(f string, a ...any) error { return s.Warning(fmt.Sprintf(f, a...)) }
func (s *syncRecorder) Infof(f string, a ...any) error    { return s.Info(fmt.Sprintf(f, a...)) }
func (s *syncRecorder) lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.r.lines)
}

func TestPlatformHandlerMapsLevelsAndFormatsAttributes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		level slog.Level
		log   func(*slog.Logger)
		want  []string
	}{
		{"error to error", slog.LevelInfo, func(l *slog.Logger) { l.Error("delivery failed", "err", "timeout") },
			[]string{`E: delivery failed err=timeout`}},
		{"warn to warning", slog.LevelInfo, func(l *slog.Logger) { l.Warn("retrying", "in", "5s") },
			[]string{`W: retrying in=5s`}},
		{"info to info, values quoted like slog text", slog.LevelInfo, func(l *slog.Logger) { l.Info("agent starting", "version", "0.1", "host", "my mac") },
			[]string{`I: agent starting version=0.1 host="my mac"`}},
		{"debug dropped below level", slog.LevelInfo, func(l *slog.Logger) { l.Debug("noise") }, nil},
		{"debug marked when enabled", slog.LevelDebug, func(l *slog.Logger) { l.Debug("tick", "n", 1) },
			[]string{`I: debug: tick n=1`}},
		{"no attributes, no trailing space", slog.LevelInfo, func(l *slog.Logger) { l.Info("enrolled") },
			[]string{`I: enrolled`}},
		{"attrs and groups carry over", slog.LevelInfo, func(l *slog.Logger) {
			l.With("device_id", "d-1").WithGroup("spool").Info("stats", "pending", 3)
		}, []string{`I: stats device_id=d-1 spool.pending=3`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			tc.log(slog.New(NewHandler(rec, &slog.HandlerOptions{Level: tc.level})))
			if !slices.Equal(rec.lines, tc.want) {
				t.Errorf("got  %q\nwant %q", rec.lines, tc.want)
			}
		})
	}
}

func TestPlatformHandlerDerivedLoggersDoNotShareAttributes(t *testing.T) {
	rec := &recorder{}
	base := slog.New(NewHandler(rec, nil))
	a, b := base.With("who", "a"), base.With("who", "b")
	a.Info("x")
	b.Info("x")
	base.Info("x")
	want := []string{"I: x who=a", "I: x who=b", "I: x"}
	if !slices.Equal(rec.lines, want) {
		t.Errorf("got %q, want %q", rec.lines, want)
	}
}

func TestPlatformHandlerIsSafeForConcurrentUse(t *testing.T) {
	rec := &syncRecorder{}
	l := slog.New(NewHandler(rec, nil))
	done := make(chan struct{})
	for i := range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for j := range 50 {
				l.Info("m", "g", i, "j", j)
			}
		}()
	}
	for range 8 {
		<-done
	}
	for _, line := range rec.lines() {
		var g, j int
		if _, err := fmt.Sscanf(line, "I: m g=%d j=%d", &g, &j); err != nil {
			t.Fatalf("interleaved or corrupt line %q", line)
		}
	}
	if n := len(rec.lines()); n != 400 {
		t.Fatalf("%d lines, want 400", n)
	}
}

func TestPlatformHandlerDefaultsToInfo(t *testing.T) {
	rec := &recorder{}
	h := NewHandler(rec, nil)
	if h.Enabled(context.Background(), slog.LevelDebug) {
		t.Error("debug enabled by default")
	}
}
