package wire

import (
	"context"
	"errors"
	"net"
	"sync"

	"github.com/apache/thrift/lib/go/thrift"
)

// Server answers Thrift calls on a listener, one goroutine per connection
// and one call at a time per connection, like osquery's C++ thread-per-
// connection server.
//
// thrift.TSimpleServer would do the same, but its Stop waits for clients to
// hang up on their own (unless a package-level timeout is set), and a peer
// that keeps a connection open, as every osquery client does, would make
// shutting down an extension or a test manager hang.
type Server struct {
	ln     net.Listener
	proc   thrift.TProcessor
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	conns  map[*Conn]struct{}
	closed bool
}

// Serve starts answering calls on ln with proc until Close.
func Serve(ln net.Listener, proc thrift.TProcessor) *Server {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{ln: ln, proc: proc, ctx: ctx, cancel: cancel, conns: map[*Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	return s
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return // listener closed
		}
		c := NewConn(nc)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serve(c)
	}
}

func (s *Server) serve(c *Conn) {
	defer s.wg.Done()
	defer func() {
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	p := c.Protocol()
	for {
		ok, err := s.proc.Process(s.ctx, p, p)
		var ae thrift.TApplicationException
		if err != nil && errors.As(err, &ae) && ae.TypeId() == thrift.UNKNOWN_METHOD {
			continue // the request was skipped and an exception sent; the stream is still in step
		}
		if !ok {
			return // transport error, hang-up, or a reply we could not write
		}
	}
}

// Close stops accepting, hangs up every connection, cancels the contexts of
// calls in progress and waits for their handlers to return.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	err := s.ln.Close()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	return err
}
