package xds

import (
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unique"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
)

// Watched is the state of one resource type on one connection.
type Watched struct {
	TypeURL string
	// Names are the subscribed resource names, sorted; Wildcard means "all".
	Names    []string
	Wildcard bool
	// interned keeps Names canonical (internSorted).
	interned []unique.Handle[string]
	// NonceSent and VersionSent identify the last response; NonceAcked the last one the
	// client accepted.
	NonceSent, VersionSent, NonceAcked string
	// LastNACK is the error of the client's last rejection, cleared by the next ACK.
	LastNACK string
	// nackedHash is the content hash of the rejected response: never send it again.
	nackedHash uint64
	// sentHash is the content hash of the last response sent.
	sentHash uint64
	// sent maps, for Delta streams, resource name to content hash as last sent.
	sent map[string]uint64
	// current is set, for Delta streams, while sent holds what the generator last
	// returned for the connection: a push may then ask it for changes (DeltaGenerator).
	current bool
	// LastSent is when the last response was sent.
	LastSent time.Time
}

// Synced reports whether the client ACKed the last response (istioctl's SYNCED).
func (w *Watched) Synced() bool { return w.NonceSent != "" && w.NonceSent == w.NonceAcked }

// Connection is one ADS stream.
type Connection struct {
	ID          string
	proxyRef    *model.Proxy
	Peer        string
	ConnectedAt time.Time
	Delta       bool

	mu      sync.Mutex
	watched map[string]*Watched
	// pending is the merged push not yet delivered; pushReady signals it.
	pending   *model.PushRequest
	pushReady chan struct{}
	// closed is closed when the stream ends.
	closed chan struct{}
	// kill closes the stream from the server side (slow consumer, shutdown).
	kill     chan string
	killOnce sync.Once
}

func newConnection(id, peer string, delta bool, now time.Time) *Connection {
	return &Connection{
		ID: id, Peer: peer, Delta: delta, ConnectedAt: now,
		watched:   map[string]*Watched{},
		pushReady: make(chan struct{}, 1),
		closed:    make(chan struct{}),
		kill:      make(chan string, 1),
	}
}

// enqueue merges req into the connection's pending push; it never blocks.
func (c *Connection) enqueue(req *model.PushRequest) {
	c.mu.Lock()
	c.pending = c.pending.Merge(req)
	c.mu.Unlock()
	select {
	case c.pushReady <- struct{}{}:
	default:
	}
}

// takePending returns and clears the pending push.
func (c *Connection) takePending() *model.PushRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.pending
	c.pending = nil
	return r
}

// close asks the stream to end with reason.
func (c *Connection) close(reason string) {
	c.killOnce.Do(func() { c.kill <- reason })
}

// Watched returns a copy of the state of every subscribed type, by type URL.
func (c *Connection) Watched() map[string]Watched {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]Watched, len(c.watched))
	for k, w := range c.watched {
		cp := *w
		cp.Names, cp.interned = append([]string(nil), w.Names...), nil
		cp.sent = nil
		out[k] = cp
	}
	return out
}

func (c *Connection) watch(typeURL string) *Watched {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.watched[typeURL]
}

// watchedTypes returns the subscribed types in push order, then any others sorted.
func (c *Connection) watchedTypes() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	seen := map[string]bool{}
	for _, t := range pushOrder {
		if _, ok := c.watched[t]; ok {
			out = append(out, t)
			seen[t] = true
		}
	}
	var rest []string
	for t := range c.watched {
		if !seen[t] {
			rest = append(rest, t)
		}
	}
	sort.Strings(rest)
	return append(out, rest...)
}

// nonceSource makes nonces unique per server.
type nonceSource struct {
	mu sync.Mutex
	n  uint64
}

func (s *nonceSource) next() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	return strconv.FormatUint(s.n, 36)
}

// internSorted returns the names sorted, in a new slice, interned: a connection keeps the
// names it watches for as long as it lives, and most are the same across proxies (1,000
// sidecars each watching ~1,000 EDS clusters would otherwise hold a million copies, ~40
// MB, decoded from their requests). The handles must be kept with the names: an interned
// value stays canonical only while a Handle to it exists, and a name interned again after
// its handles were collected is a new copy.
func internSorted(names []string) ([]string, []unique.Handle[string]) {
	hs := make([]unique.Handle[string], len(names))
	for i, n := range names {
		hs[i] = unique.Make(n)
	}
	slices.SortFunc(hs, func(a, b unique.Handle[string]) int { return strings.Compare(a.Value(), b.Value()) })
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.Value()
	}
	return out, hs
}

func sameNames(a, b []string) bool {
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
