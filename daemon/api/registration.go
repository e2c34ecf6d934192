package api

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/podint/podint/internal/registration"
	podintv1 "github.com/podint/podint/proto/podint/v1"
)

// The CNI plugin speaks internal/registration's line protocol on the same
// socket as gRPC clients, so that it need not link gRPC (it is exec'd once
// per pod, and gRPC is most of its size and start-up). A connection's first
// byte tells them apart: '{' opens a registration request, a gRPC client
// starts with the HTTP/2 preface ("PRI ...").

// sniffWait bounds how long a connection may stay silent before its first
// byte: a client that sends nothing holds only its own goroutine that long.
const sniffWait = 10 * time.Second

// maxRequestLine bounds one registration request line.
const maxRequestLine = 1 << 20

// splitListener hands the gRPC server the connections that are not
// registration connections; those it serves itself.
type splitListener struct {
	net.Listener
	conns    chan net.Conn
	errs     chan error
	register func(net.Conn)
	once     sync.Once
	done     chan struct{}
}

func newSplitListener(l net.Listener, register func(net.Conn)) *splitListener {
	s := &splitListener{Listener: l, conns: make(chan net.Conn), errs: make(chan error, 1),
		register: register, done: make(chan struct{})}
	go s.acceptLoop()
	return s
}

func (s *splitListener) acceptLoop() {
	for {
		c, err := s.Listener.Accept()
		if err != nil {
			s.errs <- err
			return
		}
		go s.sniff(c)
	}
}

func (s *splitListener) sniff(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(sniffWait))
	r := bufio.NewReader(c)
	first, err := r.Peek(1)
	_ = c.SetReadDeadline(time.Time{})
	if err != nil {
		c.Close()
		return
	}
	sc := &sniffedConn{Conn: c, r: r}
	if first[0] == '{' {
		s.register(sc)
		return
	}
	select {
	case s.conns <- sc:
	case <-s.done:
		c.Close()
	}
}

func (s *splitListener) Accept() (net.Conn, error) {
	select {
	case c := <-s.conns:
		return c, nil
	case err := <-s.errs:
		s.errs <- err // every later Accept fails the same
		return nil, err
	case <-s.done:
		return nil, net.ErrClosed
	}
}

func (s *splitListener) Close() error {
	s.once.Do(func() { close(s.done) })
	return s.Listener.Close()
}

// sniffedConn is a connection whose first bytes were peeked at.
type sniffedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *sniffedConn) Read(b []byte) (int, error) { return c.r.Read(b) }

func (c *sniffedConn) refusal() string {
	if rc, ok := c.Conn.(*refusedConn); ok {
		return rc.reason
	}
	return ""
}

// serveRegistration answers one plugin connection's requests, each line a
// registration.Request, until the plugin closes it.
func (s *Server) serveRegistration(c net.Conn) {
	defer c.Close()
	refusal := ""
	if sc, ok := c.(*sniffedConn); ok {
		refusal = sc.refusal()
	}
	// A request is a few hundred bytes; a line past maxRequestLine ends
	// the connection instead of growing the daemon's memory.
	lines := bufio.NewScanner(c)
	lines.Buffer(make([]byte, 0, 4096), maxRequestLine)
	enc := json.NewEncoder(c)
	for {
		if !lines.Scan() {
			if err := lines.Err(); err != nil {
				s.log.Warn("registration connection ended", "err", err)
			}
			return
		}
		line := lines.Bytes()
		var a registration.Answer
		if refusal != "" {
			a.Error = &registration.Error{Code: "PermissionDenied", Message: refusal}
		} else {
			a = s.answer(line)
		}
		if err := enc.Encode(a); err != nil {
			return
		}
	}
}

// answer runs one registration request through the gRPC server's handler.
func (s *Server) answer(line []byte) registration.Answer {
	var req registration.Request
	if err := json.Unmarshal(line, &req); err != nil {
		return failed("InvalidArgument", "request is not a registration request: "+err.Error())
	}
	body := req.Request
	if len(body) == 0 {
		body = []byte("{}")
	}
	ctx := context.Background()
	var (
		in   proto.Message
		call func() (proto.Message, error)
	)
	switch req.Method {
	case registration.MethodRegister:
		m := &podintv1.RegisterRequest{}
		in, call = m, func() (proto.Message, error) { return s.Register(ctx, m) }
	case registration.MethodUnregister:
		m := &podintv1.UnregisterRequest{}
		in, call = m, func() (proto.Message, error) { return s.Unregister(ctx, m) }
	case registration.MethodListProbes:
		m := &podintv1.ListProbesRequest{}
		in, call = m, func() (proto.Message, error) { return s.ListProbes(ctx, m) }
	default:
		return failed("Unimplemented", "method "+req.Method+" is not served on the registration protocol; use the gRPC API")
	}
	if err := protojson.Unmarshal(body, in); err != nil {
		return failed("InvalidArgument", req.Method+" request: "+err.Error())
	}
	out, err := call()
	if err != nil {
		st := status.Convert(err)
		return failed(st.Code().String(), st.Message())
	}
	b, err := protojson.Marshal(out)
	if err != nil {
		return failed("Internal", "encode "+req.Method+" answer: "+err.Error())
	}
	return registration.Answer{Response: b}
}

func failed(code, msg string) registration.Answer {
	return registration.Answer{Error: &registration.Error{Code: code, Message: msg}}
}
