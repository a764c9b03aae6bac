// Package log provides istiod-style scoped structured logging on logr/zap: each component
// logs through a named scope (ads, model, config, ...) whose level is set with
// --log_output_level ("default:info,ads:debug"), as text or, with --log_as_json, JSON.
package log

import (
	"fmt"
	"os"
	"strings"

	"github.com/go-logr/logr"
	"github.com/go-logr/zapr"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Options are the logging flags.
type Options struct {
	// OutputLevel is istiod's --log_output_level: "level" or "scope:level,...", levels
	// debug, info, warn, error, none; scope "default" sets the rest.
	OutputLevel string
	JSON        bool
}

// Logs hands out scoped loggers.
type Logs struct {
	base   *zap.Logger
	levels map[string]zapcore.Level
	def    zapcore.Level
}

// levelNone disables a scope.
const levelNone = zapcore.FatalLevel + 1

func parseLevel(s string) (zapcore.Level, error) {
	switch s {
	case "debug":
		return zapcore.DebugLevel, nil
	case "info":
		return zapcore.InfoLevel, nil
	case "warn", "warning":
		return zapcore.WarnLevel, nil
	case "error":
		return zapcore.ErrorLevel, nil
	case "fatal":
		return zapcore.FatalLevel, nil
	case "none":
		return levelNone, nil
	}
	return 0, fmt.Errorf("unknown log level %q", s)
}

// New configures logging.
func New(o Options) (*Logs, error) {
	l := &Logs{levels: map[string]zapcore.Level{}, def: zapcore.InfoLevel}
	for _, part := range strings.Split(o.OutputLevel, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		scope, level, ok := strings.Cut(part, ":")
		if !ok {
			scope, level = "default", part
		}
		lv, err := parseLevel(level)
		if err != nil {
			return nil, fmt.Errorf("--log_output_level %q: %w", o.OutputLevel, err)
		}
		if scope == "default" {
			l.def = lv
		} else {
			l.levels[scope] = lv
		}
	}
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey, enc.EncodeTime = "time", zapcore.ISO8601TimeEncoder
	enc.NameKey = "scope"
	var encoder zapcore.Encoder
	if o.JSON {
		encoder = zapcore.NewJSONEncoder(enc)
	} else {
		enc.EncodeLevel = zapcore.LowercaseLevelEncoder
		encoder = zapcore.NewConsoleEncoder(enc)
	}
	// Scope levels are enforced per scope below; the core lets everything through.
	core := zapcore.NewCore(encoder, zapcore.Lock(os.Stderr), zapcore.DebugLevel)
	l.base = zap.New(core)
	return l, nil
}

// Scope returns the logger of a scope. logr V(1) and above map to debug.
func (l *Logs) Scope(name string) logr.Logger {
	lv, ok := l.levels[name]
	if !ok {
		lv = l.def
	}
	z := l.base.Named(name).WithOptions(zap.IncreaseLevel(lv))
	return zapr.NewLogger(z)
}

// Discard is a Logs that logs nothing, for tests.
func Discard() *Logs {
	return &Logs{base: zap.NewNop(), levels: map[string]zapcore.Level{}, def: levelNone}
}
