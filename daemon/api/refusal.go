package api

import (
	"context"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// peerAccess is the server's transport credentials on the unix socket: no
// security of its own (the socket's mode and PeerCredentials keep others
// out), it only carries the listener's verdict on the peer to the calls.
type peerAccess struct{}

// accessInfo is a connection's verdict; refusal is "" when it is allowed.
type accessInfo struct{ refusal string }

func (accessInfo) AuthType() string { return "unix-peer-credentials" }

func (peerAccess) ServerHandshake(c net.Conn) (net.Conn, credentials.AuthInfo, error) {
	switch rc := c.(type) {
	case *refusedConn:
		return c, accessInfo{refusal: rc.reason}, nil
	case *sniffedConn:
		return c, accessInfo{refusal: rc.refusal()}, nil
	}
	return c, accessInfo{}, nil
}

func (peerAccess) ClientHandshake(_ context.Context, _ string, c net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return c, accessInfo{}, nil
}

func (peerAccess) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "insecure"}
}
func (peerAccess) Clone() credentials.TransportCredentials { return peerAccess{} }
func (peerAccess) OverrideServerName(string) error         { return nil }

// refused returns the PermissionDenied error of a call whose peer the
// listener refused, nil for an allowed one.
func refused(ctx context.Context) error {
	if p, ok := peer.FromContext(ctx); ok {
		if a, ok := p.AuthInfo.(accessInfo); ok && a.refusal != "" {
			return status.Error(codes.PermissionDenied, a.refusal)
		}
	}
	return nil
}

// accessOptions are the server options that turn refused peers away with
// the reason, before any handler runs.
func accessOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.Creds(peerAccess{}),
		grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if err := refused(ctx); err != nil {
				return nil, err
			}
			return h(ctx, req)
		}),
		grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if err := refused(ss.Context()); err != nil {
				return err
			}
			return h(srv, ss)
		}),
	}
}
