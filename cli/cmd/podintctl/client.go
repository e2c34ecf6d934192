package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/podint/podint/internal/apiclient"
	"github.com/podint/podint/internal/instance"
	podintv1 "github.com/podint/podint/proto/podint/v1"
)

// socketPath is the daemon's socket named by the --root and --socket flags.
func socketPath(cmd *cobra.Command) string {
	socket, _ := cmd.Flags().GetString("socket")
	if socket == "" {
		root, _ := cmd.Flags().GetString("root")
		socket = instance.New(root).Socket
	}
	return socket
}

// daemonClient dials the daemon named by the --root and --socket flags.
func daemonClient(cmd *cobra.Command) (podintv1.PodintClient, func() error, error) {
	c, closeFn, err := apiclient.Dial(socketPath(cmd))
	if err != nil {
		return nil, nil, explain(cmd, err)
	}
	return c, closeFn, nil
}

// explain turns the error of a call to the daemon into what the user can
// act on: which socket was tried and the flags that choose it, or why the
// daemon refused.
func explain(cmd *cobra.Command, err error) error {
	socket := socketPath(cmd)
	switch s, _ := status.FromError(err); s.Code() {
	case codes.Unavailable:
		return fmt.Errorf("podintd is not reachable at %s (is podintd running? choose its instance with --root or its socket with --socket): %s",
			socket, s.Message())
	case codes.DeadlineExceeded:
		return fmt.Errorf("podintd at %s did not answer in time (is it overloaded or stopped?): %s", socket, s.Message())
	case codes.PermissionDenied:
		return errors.New(s.Message())
	}
	return err
}

// callDaemon dials the daemon named by the flags and makes one call with a
// deadline.
func callDaemon(cmd *cobra.Command, call func(context.Context, podintv1.PodintClient) error) error {
	c, closeFn, err := daemonClient(cmd)
	if err != nil {
		return err
	}
	defer closeFn()
	ctx, cancel := callContext(cmd)
	defer cancel()
	if err := call(ctx, c); err != nil {
		return explain(cmd, err)
	}
	return nil
}

// printJSON writes an API message as indented JSON with the API's names.
func printJSON(w io.Writer, m proto.Message) error {
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(m)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}

// callContext bounds a call to the daemon.
func callContext(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return context.WithTimeout(cmd.Context(), 5*time.Second)
}
