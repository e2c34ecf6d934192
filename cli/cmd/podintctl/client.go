package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

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

// callContext bounds a call to the daemon.
func callContext(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return context.WithTimeout(cmd.Context(), 5*time.Second)
}
