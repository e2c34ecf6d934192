package api

import (
	"fmt"
	"log/slog"
	"os"

	"google.golang.org/grpc/grpclog"
)

// RouteGRPCLogs sends the gRPC library's warnings and errors (a connection
// the server could not set up, a transport closed by an error) to log, at
// their level, instead of dropping them: by default gRPC writes only its
// errors, to stderr, without podintd's fields. Its info lines (among
// them a connection that failed its HTTP/2 handshake) are debug lines.
// Call it before the server starts.
func RouteGRPCLogs(log *slog.Logger) {
	grpclog.SetLoggerV2(grpcLogger{log: log.With("component", "grpc")})
}

type grpcLogger struct{ log *slog.Logger }

func (g grpcLogger) Info(args ...any)   { g.log.Debug(fmt.Sprint(args...)) }
func (g grpcLogger) Infoln(args ...any) { g.log.Debug(fmt.Sprint(args...)) }
func (g grpcLogger) Infof(format string, args ...any) {
	g.log.Debug(fmt.Sprintf(format, args...))
}

func (g grpcLogger) Warning(args ...any)   { g.log.Warn(fmt.Sprint(args...)) }
func (g grpcLogger) Warningln(args ...any) { g.log.Warn(fmt.Sprint(args...)) }
func (g grpcLogger) Warningf(format string, args ...any) {
	g.log.Warn(fmt.Sprintf(format, args...))
}

func (g grpcLogger) Error(args ...any)   { g.log.Error(fmt.Sprint(args...)) }
func (g grpcLogger) Errorln(args ...any) { g.log.Error(fmt.Sprint(args...)) }
func (g grpcLogger) Errorf(format string, args ...any) {
	g.log.Error(fmt.Sprintf(format, args...))
}

func (g grpcLogger) Fatal(args ...any)   { g.log.Error(fmt.Sprint(args...)); os.Exit(1) }
func (g grpcLogger) Fatalln(args ...any) { g.log.Error(fmt.Sprint(args...)); os.Exit(1) }
func (g grpcLogger) Fatalf(format string, args ...any) {
	g.log.Error(fmt.Sprintf(format, args...))
	os.Exit(1)
}

// V reports whether verbosity level l is on: only level 0 is (gRPC's
// verbose info lines stay out even at debug).
func (grpcLogger) V(l int) bool { return l <= 0 }
