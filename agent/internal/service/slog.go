package service

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"

	ks "github.com/kardianos/service"
)

// NewHandler returns an slog.Handler that writes to a kardianos
// service.Logger: syslog (and so journald) on Unix, the Windows event log.
// Those add their own timestamp and severity, so a record becomes just
// "message key=value ...", attributes formatted as slog's text handler
// does. Error records are logged as errors, Warn as warnings, everything
// else as information, with "debug: " in front of debug records since the
// platform loggers have no debug severity.
func NewHandler(out ks.Logger, opts *slog.HandlerOptions) slog.Handler {
	var level slog.Leveler = slog.LevelInfo
	if opts != nil && opts.Level != nil {
		level = opts.Level
	}
	buf := &lockedBuffer{}
	text := slog.NewTextHandler(&buf.b, &slog.HandlerOptions{
		Level: slog.LevelDebug, // filtering happens in Enabled
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 {
				switch a.Key {
				case slog.TimeKey, slog.LevelKey, slog.MessageKey:
					return slog.Attr{}
				}
			}
			return a
		},
	})
	return &platformHandler{out: out, level: level, text: text, buf: buf}
}

// lockedBuffer is the text handler's output, shared by the handlers that
// WithAttrs and WithGroup derive, and read back under the same lock.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

type platformHandler struct {
	out   ks.Logger
	level slog.Leveler
	text  slog.Handler
	buf   *lockedBuffer
}

func (h *platformHandler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.level.Level()
}

func (h *platformHandler) Handle(ctx context.Context, r slog.Record) error {
	h.buf.mu.Lock()
	h.buf.b.Reset()
	err := h.text.Handle(ctx, r)
	attrs := strings.TrimSpace(h.buf.b.String())
	h.buf.mu.Unlock()
	if err != nil {
		return err
	}
	line := r.Message
	if attrs != "" {
		line += " " + attrs
	}
	switch {
	case r.Level >= slog.LevelError:
		return h.out.Error(line)
	case r.Level >= slog.LevelWarn:
		return h.out.Warning(line)
	case r.Level < slog.LevelInfo:
		return h.out.Info("debug: " + line)
	}
	return h.out.Info(line)
}

func (h *platformHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.text = h.text.WithAttrs(as)
	return &c
}

func (h *platformHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.text = h.text.WithGroup(name)
	return &c
}
