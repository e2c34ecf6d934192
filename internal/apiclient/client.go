package apiclient

import (
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	podintv1 "github.com/podint/podint/proto/podint/v1"
)

// Dial returns a client of the daemon serving the unix socket at path. The
// connection is made lazily, on the first call; give each call a deadline.
func Dial(path string) (podintv1.PodintClient, func() error, error) {
	conn, err := grpc.NewClient("unix://"+path, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, nil, fmt.Errorf("connect to podintd at %s: %w", path, err)
	}
	return podintv1.NewPodintClient(conn), conn.Close, nil
}
