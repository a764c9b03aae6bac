package xds

import (
	"context"
	"encoding/json"
	"errors"
	"io"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
)

// stream is what the SotW and Delta handlers share: receiving requests on their own
// goroutine, and the per-connection loop that serializes request handling and pushes
// (a gRPC stream must not be sent on concurrently).
type stream[Req any] struct {
	s     *Server
	ctx   context.Context
	recv  func() (Req, error)
	node  func(Req) *corev3.Node
	delta bool
	// handle processes one request; push delivers one push.
	handle func(c *Connection, r Req) error
	push   func(c *Connection, req *model.PushRequest) error
}

func (st *stream[Req]) run() error {
	s := st.s
	if err := s.waitForStreamSlot(st.ctx); err != nil {
		return status.Errorf(codes.ResourceExhausted, "too many new streams: %v", err)
	}
	reqs := make(chan Req, 1)
	recvErr := make(chan error, 1)
	go func() {
		for {
			r, err := st.recv()
			if err != nil {
				recvErr <- err
				return
			}
			select {
			case reqs <- r:
			case <-st.ctx.Done():
				return
			}
		}
	}()
	var c *Connection
	var pushReady <-chan struct{}
	var kill <-chan string
	defer func() {
		if c != nil {
			s.removeConnection(c)
			close(c.closed)
		}
	}()
	for {
		select {
		case r := <-reqs:
			if c == nil {
				var err error
				if c, err = s.newConnection(st.ctx, st.node(r), st.delta); err != nil {
					return err
				}
				pushReady, kill = c.pushReady, c.kill
			}
			s.opts.Idle.Begin()
			err := st.handle(c, r)
			s.opts.Idle.End()
			if err != nil {
				return err
			}
		case <-pushReady:
			req := c.takePending()
			if req == nil {
				continue
			}
			s.opts.Idle.Begin()
			s.throttle <- struct{}{}
			err := st.push(c, req)
			<-s.throttle
			s.opts.Idle.End()
			if err != nil {
				return err
			}
		case reason := <-kill:
			return status.Error(codes.Unavailable, reason)
		case err := <-recvErr:
			if errors.Is(err, io.EOF) || status.Code(err) == codes.Canceled {
				return nil
			}
			return err
		case <-st.ctx.Done():
			return nil
		}
	}
}

// newConnection builds the proxy from the first request's node and registers it.
func (s *Server) newConnection(ctx context.Context, node *corev3.Node, delta bool) (*Connection, error) {
	if node == nil || node.GetId() == "" {
		return nil, status.Error(codes.InvalidArgument, "the first request must carry a node with an id")
	}
	md := &model.NodeMetadata{}
	if node.GetMetadata() != nil {
		js, err := protojson.Marshal(node.GetMetadata())
		if err == nil {
			md, err = model.ParseNodeMetadata(js)
		}
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "node %s: %v", node.GetId(), err)
		}
	}
	p, err := model.ParseServiceNode(node.GetId(), md)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	peerAddr := ""
	if pr, ok := peer.FromContext(ctx); ok {
		peerAddr = pr.Addr.String()
	}
	c := newConnection(s.nextConnectionID(p.ID), peerAddr, delta, s.opts.Clock.Now())
	p.Memo = model.NewMemo()
	c.proxyRef = p
	c.refreshProxy(s.PushContext())
	s.addConnection(c)
	s.log.Info("new connection", "proxy", p.ID, "conn", c.ID, "peer", peerAddr, "delta", delta)
	return c, nil
}

// controlPlaneID is the ControlPlane.Identifier istiod sends: JSON naming the component
// and the instance, which istioctl shows in its ISTIOD column.
func (s *Server) controlPlaneID() string {
	b, _ := json.Marshal(map[string]any{
		"Component": "istiod",
		"ID":        s.opts.ControlPlaneID,
		"Info":      map[string]string{"version": "1.31.1-sextant", "revision": "sextant"},
	})
	return string(b)
}

// isWildcardType reports whether an empty name list means "everything" for typeURL.
func isWildcardType(typeURL string) bool {
	return typeURL == ClusterType || typeURL == ListenerType
}
