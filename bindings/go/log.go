//go:build cgo

package cachekit

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync/atomic"
)

// The core's structured events (fail-open errors, breaker changes,
// corrupt entries, ...) go to stderr by default, filtered by LOG_LEVEL.
// SetLogger routes them to a *slog.Logger instead. This package's own
// warnings (a result that could not be cached) go to that logger too, or
// to slog.Default() without one.

var eventLogger atomic.Pointer[slog.Logger]

// SetLogger delivers the core's events at minLevel and above to l, with
// their fields (namespace, key_hash, outcome, duration_ms,
// correlation_id, detail) as attributes. nil sends them back to stderr.
// The logger is called from the core's threads too; it must not call
// back into cachekit.
func SetLogger(l *slog.Logger, minLevel slog.Level) error {
	if err := checkABI(); err != nil {
		return err
	}
	if l == nil {
		eventLogger.Store(nil)
		return coreSetLog(30, false)
	}
	eventLogger.Store(l)
	return coreSetLog(coreLevel(minLevel), true)
}

func coreLevel(l slog.Level) uint8 {
	switch {
	case l <= slog.LevelDebug:
		return 10
	case l <= slog.LevelInfo:
		return 20
	case l <= slog.LevelWarn:
		return 30
	}
	return 40
}

func slogLevel(core uint8) slog.Level {
	switch {
	case core <= 10:
		return slog.LevelDebug
	case core <= 20:
		return slog.LevelInfo
	case core <= 30:
		return slog.LevelWarn
	}
	return slog.LevelError
}

// deliverLog runs on the core's callback (see ffi.go).
func deliverLog(level uint8, raw string) {
	l := eventLogger.Load()
	if l == nil {
		return
	}
	lvl := slogLevel(level)
	ctx := context.Background()
	if !l.Enabled(ctx, lvl) {
		return
	}
	var ev map[string]any
	if err := json.Unmarshal([]byte(raw), &ev); err != nil {
		l.Log(ctx, lvl, "cachekit: "+raw)
		return
	}
	name, _ := ev["event"].(string)
	attrs := make([]any, 0, 2*len(ev))
	for _, k := range []string{"namespace", "key_hash", "outcome", "duration_ms", "correlation_id", "detail"} {
		if v, ok := ev[k]; ok && v != nil && v != "" {
			attrs = append(attrs, k, v)
		}
	}
	l.Log(ctx, lvl, "cachekit: "+name, attrs...)
}

// logf logs one of this package's own events about an operation.
func logf(level slog.Level, msg string, o *operation, attrs ...any) {
	l := eventLogger.Load()
	if l == nil {
		l = slog.Default()
	}
	attrs = append(attrs, "namespace", o.cache.namespace, "operation", o.name)
	l.Log(context.Background(), level, msg, attrs...)
}
