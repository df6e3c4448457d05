package jetstream

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
)

// Levels of nats-server's log in slog. Its notices (a startup banner of a
// dozen lines, JetStream stats) are routine for us, so they go to debug;
// its own debug and trace output sits below that.
const (
	levelNATSNotice = slog.LevelDebug
	levelNATSDebug  = slog.LevelDebug - 4
	levelNATSTrace  = slog.LevelDebug - 8
)

// natsLogger adapts slog to nats-server's Logger interface.
type natsLogger struct{ log *slog.Logger }

func (l natsLogger) enabled(level slog.Level) bool {
	return l.log.Enabled(context.Background(), level)
}

func (l natsLogger) logf(level slog.Level, format string, v []any) {
	if !l.enabled(level) {
		return
	}
	l.log.Log(context.Background(), level, fmt.Sprintf(format, v...))
}

func (l natsLogger) Noticef(format string, v ...any) { l.logf(levelNATSNotice, format, v) }
func (l natsLogger) Errorf(format string, v ...any)  { l.logf(slog.LevelError, format, v) }
func (l natsLogger) Fatalf(format string, v ...any)  { l.logf(slog.LevelError, format, v) }
func (l natsLogger) Debugf(format string, v ...any)  { l.logf(levelNATSDebug, format, v) }
func (l natsLogger) Tracef(format string, v ...any)  { l.logf(levelNATSTrace, format, v) }

func (l natsLogger) Warnf(format string, v ...any) {
	// We raise max_payload above 8 MB on purpose; don't warn at every start.
	if strings.HasPrefix(format, "Maximum payloads over") {
		l.logf(levelNATSNotice, format, v)
		return
	}
	l.logf(slog.LevelWarn, format, v)
}
