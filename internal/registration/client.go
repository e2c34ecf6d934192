package registration

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"time"
)

// ErrDaemonDown is a daemon that cannot be reached at all.
var ErrDaemonDown = errors.New("podintd is not running")

// Client is one connection to podintd. Its calls share one deadline, so a
// hung daemon costs the caller that deadline, not that per call.
type Client struct {
	conn net.Conn
	r    *bufio.Reader
}

// Dial connects to the daemon's API socket; every call must be done by
// deadline.
func Dial(socket string, deadline time.Time) (*Client, error) {
	// Without a socket there is nothing to wait for: say so at once.
	if _, err := os.Stat(socket); err != nil {
		return nil, fmt.Errorf("%w: no socket at %s (start podintd with the same root): %w", ErrDaemonDown, socket, err)
	}
	d := net.Dialer{Deadline: deadline}
	c, err := d.Dial("unix", socket)
	if err != nil {
		return nil, fmt.Errorf("%w: connect to %s: %w", ErrDaemonDown, socket, err)
	}
	if err := c.SetDeadline(deadline); err != nil {
		c.Close()
		return nil, fmt.Errorf("connect to podintd at %s: %w", socket, err)
	}
	return &Client{conn: c, r: bufio.NewReader(c)}, nil
}

// Close ends the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Register hands the daemon a pod probe's registration.
func (c *Client) Register(p *Probe) error {
	return c.call(MethodRegister, RegisterRequest{Probe: p}, nil)
}

// Unregister makes the daemon forget the probe of a pod interface.
func (c *Client) Unregister(containerID, podIf string) error {
	return c.call(MethodUnregister, UnregisterRequest{ContainerID: containerID, PodInterface: podIf}, &UnregisterResponse{})
}

// ListProbes returns the probes the daemon holds.
func (c *Client) ListProbes() ([]*Probe, error) {
	var resp ListProbesResponse
	err := c.call(MethodListProbes, struct{}{}, &resp)
	return resp.Probes, err
}

func (c *Client) call(method string, req, resp any) error {
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("encode %s request: %w", method, err)
	}
	line, err := json.Marshal(Request{Method: method, Request: body})
	if err != nil {
		return fmt.Errorf("encode %s request: %w", method, err)
	}
	if _, err := c.conn.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("%w: send %s: %w", ErrDaemonDown, method, err)
	}
	answer, err := c.r.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("%w: no answer to %s: %w", ErrDaemonDown, method, err)
	}
	var a Answer
	if err := json.Unmarshal(answer, &a); err != nil {
		return fmt.Errorf("decode podintd's answer to %s: %w", method, err)
	}
	if a.Error != nil {
		return a.Error
	}
	if resp != nil && len(a.Response) > 0 {
		if err := json.Unmarshal(a.Response, resp); err != nil {
			return fmt.Errorf("decode podintd's answer to %s: %w", method, err)
		}
	}
	return nil
}

// Unreachable tells a daemon that is down, not answering or going away (a
// transient condition: CNI code 11) from one that answered with an error.
func Unreachable(err error) bool {
	if errors.Is(err, ErrDaemonDown) || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var e *Error
	if errors.As(err, &e) {
		switch e.Code {
		case "Unavailable", "DeadlineExceeded", "Canceled":
			return true
		}
	}
	return false
}
