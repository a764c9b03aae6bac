package load

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Type URLs a sidecar subscribes to, in the order Envoy asks for them.
const (
	ClusterType  = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
	EndpointType = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
	ListenerType = "type.googleapis.com/envoy.config.listener.v3.Listener"
	RouteType    = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
)

// Types are the subscribed types, indexed as in Counts.
var Types = [4]string{ClusterType, EndpointType, ListenerType, RouteType}

// TypeNames are the short names of Types.
var TypeNames = [4]string{"cds", "eds", "lds", "rds"}

func typeIndex(url string) int {
	for i, t := range Types {
		if t == url {
			return i
		}
	}
	return -1
}

// TypeCount is what a client received of one type.
type TypeCount struct {
	Responses, Resources int
	Bytes                int64
}

// Counts are TypeCounts by type index.
type Counts [4]TypeCount

// Add adds o to c.
func (c *Counts) Add(o Counts) {
	for i := range c {
		c[i].Responses += o[i].Responses
		c[i].Resources += o[i].Resources
		c[i].Bytes += o[i].Bytes
	}
}

// Responses is the total number of responses.
func (c Counts) Responses() int {
	n := 0
	for _, t := range c {
		n += t.Responses
	}
	return n
}

// Bytes is the total size of the responses.
func (c Counts) Bytes() int64 {
	var n int64
	for _, t := range c {
		n += t.Bytes
	}
	return n
}

// Expectation says what a response reflecting a change looks like.
type Expectation struct {
	TypeURL string
	// Name is the resource to look at; "" means any resource of the type.
	Name string
	// Match reports whether a serialized resource reflects the change.
	Match func(resource []byte) bool
}

// window is what one client received while one change was measured.
type window struct {
	exp                *Expectation
	counts             Counts
	matchedAt, ackedAt time.Time
	// notify gets the client's index once it has ACKed the matching response.
	notify chan<- int
}

// Client is one simulated Envoy: one gRPC connection, one ADS stream.
type Client struct {
	Index    int
	Identity Identity
	Delta    bool

	node     *corev3.Node
	activity *atomic.Int64 // unix nanos of the last response any client received

	mu         sync.Mutex
	win        *window
	total      Counts
	held       [4]int // resources currently held, by type
	largest    [4]int // bytes of the largest response received, by type
	lastErr    error
	reconnects int
	refusals   int // streams refused by the server's rate limit

	ready     chan struct{}
	readyOnce sync.Once
}

// largestResponses are the sizes of the largest responses the client has received, by
// type (0: none).
func (c *Client) largestResponses() [4]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.largest
}

func newClient(index int, id Identity, delta bool, activity *atomic.Int64) (*Client, error) {
	node, err := id.Node()
	if err != nil {
		return nil, err
	}
	return &Client{Index: index, Identity: id, Delta: delta, node: node, activity: activity, ready: make(chan struct{})}, nil
}

// Ready is closed once the client has received and ACKed clusters, their endpoints,
// listeners and their routes.
func (c *Client) Ready() <-chan struct{} { return c.ready }

// arm starts a window watching for exp.
func (c *Client) arm(exp *Expectation, notify chan<- int) {
	c.mu.Lock()
	c.win = &window{exp: exp, notify: notify}
	c.mu.Unlock()
}

// disarm ends the current window and returns it.
func (c *Client) disarm() *window {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.win
	c.win = nil
	return w
}

// snapshot returns the totals, resources held and stream health.
func (c *Client) snapshot() (total Counts, held [4]int, reconnects int, lastErr error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total, c.held, c.reconnects, c.lastErr
}

// resource is one received resource: its name (may be "" for SotW, read lazily) and bytes.
type resource struct {
	name  string
	value []byte
}

// received accounts one response and reports the window it matched the expectation of.
func (c *Client) received(typeURL string, size int, rs []resource, held int) *window {
	c.activity.Store(time.Now().UnixNano())
	i := typeIndex(typeURL)
	if i < 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	tc := TypeCount{Responses: 1, Resources: len(rs), Bytes: int64(size)}
	c.total[i].Responses++
	c.total[i].Resources += tc.Resources
	c.total[i].Bytes += tc.Bytes
	c.held[i] = held
	c.largest[i] = max(c.largest[i], size)
	w := c.win
	if w == nil {
		return nil
	}
	w.counts[i].Responses++
	w.counts[i].Resources += tc.Resources
	w.counts[i].Bytes += tc.Bytes
	if w.exp == nil || !w.matchedAt.IsZero() || w.exp.TypeURL != typeURL || !matches(w.exp, rs) {
		return nil
	}
	w.matchedAt = time.Now()
	return w
}

func matches(exp *Expectation, rs []resource) bool {
	for _, r := range rs {
		if exp.Name != "" {
			name := r.name
			if name == "" {
				name = resourceName(r.value)
			}
			if name != exp.Name {
				continue
			}
		}
		if exp.Match(r.value) {
			return true
		}
	}
	return false
}

// acked records that the response that matched w has been ACKed.
func (c *Client) acked(w *window) {
	if w == nil {
		return
	}
	c.mu.Lock()
	w.ackedAt = time.Now()
	c.mu.Unlock()
	select {
	case w.notify <- c.Index:
	default: // the driver sized the channel for every client; never block a stream
	}
}

func refusedByRateLimit(err error) bool {
	st, ok := status.FromError(err)
	return ok && st.Code() == codes.ResourceExhausted && strings.Contains(st.Message(), "rate limit")
}

// refused is how many of the client's streams the server refused for its rate limit.
func (c *Client) refused() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refusals
}

// envoyBackoff is Envoy's xDS retry delay after n failures: uniform in [0, min(500ms *
// 2^n, 30s)).
func envoyBackoff(n int) time.Duration {
	ceiling := min(500*time.Millisecond<<min(n, 6), 30*time.Second)
	return rand.N(ceiling) + time.Millisecond
}

func (c *Client) markReady() { c.readyOnce.Do(func() { close(c.ready) }) }

// Run keeps the client's stream up until ctx ends: a broken stream is re-opened, as Envoy
// does, at most maxReconnects times with a bounded backoff. A stream the server refuses
// for its new-stream rate limit (ResourceExhausted; istiod refuses a stream it cannot
// admit within a second, where Sextant queues it) is retried until ctx ends, as Envoy
// retries, with Envoy's jittered exponential backoff (500ms base, 30s cap): that is
// admission, not a broken stream.
func (c *Client) Run(ctx context.Context, conn *grpc.ClientConn, maxReconnects int) {
	refusals := 0
	for attempt := 0; ; attempt++ {
		var err error
		if c.Delta {
			err = c.runDelta(ctx, conn)
		} else {
			err = c.runSotW(ctx, conn)
		}
		if ctx.Err() != nil {
			return
		}
		if refusedByRateLimit(err) {
			c.mu.Lock()
			c.refusals++
			c.mu.Unlock()
			attempt--
			select {
			case <-ctx.Done():
				return
			case <-time.After(envoyBackoff(refusals)):
			}
			refusals++
			continue
		}
		c.mu.Lock()
		c.lastErr = err
		c.mu.Unlock()
		if attempt >= maxReconnects {
			return
		}
		c.mu.Lock()
		c.reconnects++
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-time.After(min(100*time.Millisecond<<attempt, 2*time.Second)):
		}
	}
}

// subscriptions tracks the Envoy init sequence: clusters, then their endpoints, then
// listeners, then their routes; ready once each has been answered.
type subscriptions struct {
	got          [4]bool
	ldsRequested bool
}

func (s *subscriptions) ready(edsNames, rdsNames int) bool {
	return s.got[0] && (edsNames == 0 || s.got[1]) && s.got[2] && (rdsNames == 0 || s.got[3])
}

func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func errorf(c *Client, format string, args ...any) error {
	return fmt.Errorf("client %d (%s/%s): %s", c.Index, c.Identity.Namespace, c.Identity.Pod, fmt.Sprintf(format, args...))
}

// containsToken is a Match for changes that put a unique string into a resource.
func containsToken(token string) func([]byte) bool {
	t := []byte(token)
	return func(b []byte) bool { return bytes.Contains(b, t) }
}
