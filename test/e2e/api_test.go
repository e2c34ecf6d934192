package e2e

import (
	"context"
	"strconv"
	"testing"
	"time"

	podintv1 "github.com/podint/podint/proto/podint/v1"
)

func listProbes(t *testing.T, ctx context.Context, c podintv1.PodintClient) []*podintv1.Probe {
	t.Helper()
	resp, err := c.ListProbes(ctx, &podintv1.ListProbesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetProbes()
}

func itoa(i int) string { return strconv.Itoa(i) }

func contextWithTimeoutSeconds(ctx context.Context, s int) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, time.Duration(s)*time.Second)
}
