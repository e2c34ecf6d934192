package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/podint/podint/daemon/api"
	"github.com/podint/podint/daemon/instance"
	podintv1 "github.com/podint/podint/proto/podint/v1"
)

// daemonClient dials the daemon named by the --root and --socket flags.
func daemonClient(cmd *cobra.Command) (podintv1.PodintClient, func() error, error) {
	socket, _ := cmd.Flags().GetString("socket")
	if socket == "" {
		root, _ := cmd.Flags().GetString("root")
		socket = instance.New(root).Socket
	}
	c, closeFn, err := api.Dial(socket)
	if err != nil {
		return nil, nil, fmt.Errorf("%w (is podintd running? see --root and --socket)", err)
	}
	return c, closeFn, nil
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
	return call(ctx, c)
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
