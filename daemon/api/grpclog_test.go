package api

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"google.golang.org/grpc/grpclog"
)

func TestGRPCLogsReachTheDaemonLog(t *testing.T) {
	var buf bytes.Buffer
	RouteGRPCLogs(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	t.Cleanup(func() { RouteGRPCLogs(slog.New(slog.DiscardHandler)) })
	grpclog.Warningf("transport closed: %v", "boom")
	grpclog.Error("handshake failed")
	grpclog.Info("chatter")
	out := buf.String()
	for _, want := range []string{`level=WARN msg="transport closed: boom" component=grpc`, `level=ERROR msg="handshake failed" component=grpc`} {
		if !strings.Contains(out, want) {
			t.Errorf("daemon log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "chatter") {
		t.Errorf("gRPC info line logged at info level:\n%s", out)
	}
}
