package load

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultOracle is where ../shared/oracle/README.md builds the oracle: upstream istiod
// 1.31.1's discovery (its fake discovery server, the code istiod runs) over a directory.
func DefaultOracle() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".cache", "sextant-oracle", "oracle")
}

// storeWriteLine is what the oracle's -watch logs once it starts applying an edit of the
// directory to istiod's config store (then pushes follow as istiod's own).
const storeWriteLine = "oracle: watch: first store write at "

// oracleServer is upstream istiod run by the oracle as a child process:
//
//	oracle -case DIR -serve-grpc ADDR -serve-http ADDR -watch
//
// Its HTTP side is istiod's /debug/* mux (no /metrics): it is ready once /debug/list
// answers, which it does only after the initial push has been committed. Without
// metrics the driver's quiet detection falls back to client responses alone.
//
// The oracle notices edits by polling the directory every 100ms and re-parsing all its
// Istio YAML, which is its own cost, not istiod's: it logs when it starts writing to
// istiod's store, and StoreWriteAfter reports that so it can be told apart.
type oracleServer struct {
	child
	storeWrites
}

// storeWrites records when a server logged that an edit reached its config store.
type storeWrites struct {
	mu     sync.Mutex
	writes []time.Time // in order
}

func (s *storeWrites) add(t time.Time) {
	s.mu.Lock()
	s.writes = append(s.writes, t)
	s.mu.Unlock()
}

var _ Server = (*oracleServer)(nil)

func startOracle(ctx context.Context, o ServerOptions, dir string) (Server, error) {
	bin := o.Binary
	if bin == "" {
		bin = DefaultOracle()
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("istiod oracle: %w (build it as ../shared/oracle/README.md says)", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "proxy.yaml")); err != nil {
		return nil, fmt.Errorf("istiod oracle: %w (the oracle needs DIR/proxy.yaml)", err)
	}
	addrs, err := freeAddrs(2)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-case", dir, "-serve-grpc", addrs[0], "-serve-http", addrs[1], "-watch")
	s := &oracleServer{child: child{name: "istiod oracle", cmd: cmd, grpc: addrs[0],
		readyURL: "http://" + addrs[1] + "/debug/list", exited: make(chan struct{})}}
	// Stdout goes to the log as is; stderr (istiod's log) through a copy that also reads
	// the store-write lines. os/exec's copy goroutine ends before Wait returns.
	var log io.Writer = io.Discard
	var logFile *os.File
	if o.LogFile != "" {
		if logFile, err = os.Create(o.LogFile); err != nil {
			return nil, err
		}
		log = logFile
	}
	cmd.Stdout, cmd.Stderr = log, &lineWriter{w: log, line: s.logLine}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		if logFile != nil {
			logFile.Close()
		}
		return nil, err
	}
	go func() {
		_ = cmd.Wait()
		if logFile != nil {
			logFile.Close()
		}
		close(s.exited)
	}()
	timeout := o.ReadyTimeout
	if timeout <= 0 {
		timeout = 10 * time.Minute
	}
	if err := s.waitReady(ctx, timeout); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *oracleServer) logLine(line string) {
	_, stamp, ok := strings.Cut(line, storeWriteLine)
	if !ok {
		return
	}
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(stamp))
	if err != nil {
		return
	}
	s.add(t)
}

// StoreWriteAfter returns the first time at or after t the server began (the oracle) or
// finished (Sextant) writing an edit to its config store.
func (s *storeWrites) StoreWriteAfter(t time.Time) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := sort.Search(len(s.writes), func(i int) bool { return !s.writes[i].Before(t) })
	if i == len(s.writes) {
		return time.Time{}, false
	}
	return s.writes[i], true
}

// storeWriter is a Server that reports when an edit of the directory reached its config
// store (only the oracle does).
type storeWriter interface {
	StoreWriteAfter(t time.Time) (time.Time, bool)
}

// lineWriter passes writes through to w and calls line for each complete line.
type lineWriter struct {
	w    io.Writer
	line func(string)
	buf  []byte
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.line(string(l.buf[:i]))
		l.buf = l.buf[i+1:]
	}
	if len(l.buf) > 1<<20 { // a runaway line: keep the figures bounded
		l.buf = l.buf[:0]
	}
	_, err := l.w.Write(p)
	return len(p), err
}
