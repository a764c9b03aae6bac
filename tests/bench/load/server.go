package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sextant-mesh/sextant/pilot/pkg/bootstrap"
	"github.com/sextant-mesh/sextant/pilot/pkg/features"
	"github.com/sextant-mesh/sextant/pkg/log"
)

// Server is the control plane under test.
type Server interface {
	// GRPCAddr is the plaintext xDS address.
	GRPCAddr() string
	// MetricsURL is the Prometheus /metrics URL, or "" when there is none.
	MetricsURL() string
	// PID is the process to read CPU time and memory of (this process when in-process).
	PID() int
	// Close stops a server the driver started; it does nothing for one it did not.
	Close()
}

// ServerOptions choose and start the server.
type ServerOptions struct {
	// Mode is "inproc" (bootstrap in this process), "exec" (Binary as a child process),
	// "addr" (already running at Addr) or "istiod" (upstream istiod's discovery: the
	// oracle Binary as a child process serving the config directory; see startOracle).
	Mode string
	// Binary is pilot-discovery, for exec; the oracle for istiod (default DefaultOracle()).
	Binary string
	// Addr, MetricsURL and PID describe a running server, for addr.
	Addr, MetricsURL string
	PID              int
	// Debounce overrides PILOT_DEBOUNCE_AFTER when non-zero (inproc and exec).
	Debounce time.Duration
	// LogFile receives an exec'd server's output.
	LogFile string
	// ReadyTimeout bounds the wait for a child server to serve (default 2 minutes for
	// exec, 10 for istiod).
	ReadyTimeout time.Duration
}

// Name is the control plane the options run: "istiod" for the oracle, else "sextant".
func (o ServerOptions) Name() string {
	if o.Mode == "istiod" {
		return "istiod"
	}
	return "sextant"
}

func startServer(ctx context.Context, o ServerOptions, configDir string) (Server, error) {
	switch o.Mode {
	case "inproc", "":
		return startInProcess(ctx, o, configDir)
	case "exec":
		return startExec(ctx, o, configDir)
	case "istiod":
		return startOracle(ctx, o, configDir)
	case "addr":
		if err := loopback(o.Addr); err != nil {
			return nil, err
		}
		return &external{o: o}, nil
	}
	return nil, fmt.Errorf("unknown server mode %q (want inproc, exec, istiod or addr)", o.Mode)
}

// loopback refuses addresses outside 127.0.0.0/8: the load must stay on this machine.
func loopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() || ip.To4() == nil {
		return fmt.Errorf("address %q: only 127.0.0.0/8 addresses may be used", addr)
	}
	return nil
}

type inProcess struct{ s *bootstrap.Server }

func startInProcess(ctx context.Context, o ServerOptions, dir string) (Server, error) {
	f, _ := features.Parse(os.LookupEnv)
	if o.Debounce > 0 {
		f.DebounceAfter = o.Debounce
	}
	f.PodName = "sextant-load-0"
	s, err := bootstrap.New(bootstrap.Args{
		GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", MonitoringAddr: "127.0.0.1:0",
		Domain: "cluster.local", ClusterID: "Kubernetes", ConfigDir: dir,
		ShutdownDuration: 2 * time.Second, Features: f, Log: log.Options{OutputLevel: "default:none"},
	})
	if err != nil {
		return nil, err
	}
	if err := s.Start(ctx); err != nil {
		return nil, err
	}
	return &inProcess{s: s}, nil
}

func (s *inProcess) GRPCAddr() string   { return s.s.Addr("grpc") }
func (s *inProcess) MetricsURL() string { return "http://" + s.s.Addr("monitoring") + "/metrics" }
func (s *inProcess) PID() int           { return os.Getpid() }
func (s *inProcess) Close()             { s.s.Shutdown() }

// child is a server run as a child process: pilot-discovery or the oracle.
type child struct {
	name string
	cmd  *exec.Cmd
	// grpc is the xDS address; metrics the monitoring address ("" when there is none);
	// readyURL answers 200 once the server serves.
	grpc, metrics, readyURL string
	exited                  chan struct{}
}

// freeAddrs returns n distinct free 127.0.0.1 ports (there is a small race between
// closing the probe listeners and the child binding them; a clash fails the start).
func freeAddrs(n int) ([]string, error) {
	var out []string
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().String())
	}
	return out, nil
}

// sextantStoreLine is what pilot-discovery's config-directory source logs (scope config,
// info) once it has written an edit to the store, before the push is queued.
const sextantStoreLine = "config dir changed"

// execServer is pilot-discovery as a child process; it reports store writes from its log
// as the oracle does, so both servers' "ACK after store" figures leave file ingest out.
type execServer struct {
	child
	storeWrites
}

func startExec(ctx context.Context, o ServerOptions, dir string) (Server, error) {
	if o.Binary == "" {
		return nil, errors.New("exec mode needs the pilot-discovery binary")
	}
	addrs, err := freeAddrs(3)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(o.Binary, "discovery", "--configDir", dir,
		"--grpcAddr", addrs[0], "--httpAddr", addrs[1], "--monitoringAddr", addrs[2],
		"--meshConfig", filepath.Join(dir, "no-mesh-config"), "--log_output_level", "default:warn,config:info")
	cmd.Env = append(os.Environ(), "POD_NAME=sextant-load-0")
	if o.Debounce > 0 {
		cmd.Env = append(cmd.Env, "PILOT_DEBOUNCE_AFTER="+o.Debounce.String())
	}
	c := &execServer{child: child{name: "pilot-discovery", cmd: cmd, grpc: addrs[0], metrics: addrs[2], readyURL: "http://" + addrs[1] + "/ready", exited: make(chan struct{})}}
	var log io.Writer = io.Discard
	var logFile *os.File
	if o.LogFile != "" {
		f, err := os.Create(o.LogFile)
		if err != nil {
			return nil, err
		}
		log, logFile = f, f // written by os/exec's copy goroutine until Wait returns
	}
	// The config source logs each applied edit: that is when it reached the store.
	lw := &lineWriter{w: log, line: func(line string) {
		if strings.Contains(line, sextantStoreLine) {
			c.add(time.Now())
		}
	}}
	cmd.Stdout, cmd.Stderr = lw, lw
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
		close(c.exited)
	}()
	timeout := o.ReadyTimeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	if err := c.waitReady(ctx, timeout); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (c *child) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-c.exited:
			return fmt.Errorf("%s exited before ready: %v", c.name, c.cmd.ProcessState)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		resp, err := client.Get(c.readyURL)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return fmt.Errorf("%s not ready after %v", c.name, timeout)
}

func (c *child) GRPCAddr() string { return c.grpc }
func (c *child) PID() int         { return c.cmd.Process.Pid }

func (c *child) MetricsURL() string {
	if c.metrics == "" {
		return ""
	}
	return "http://" + c.metrics + "/metrics"
}

// Close stops the child with SIGTERM, then SIGKILL after 15s.
func (c *child) Close() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(15 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
}

type external struct{ o ServerOptions }

func (e *external) GRPCAddr() string   { return e.o.Addr }
func (e *external) MetricsURL() string { return e.o.MetricsURL }
func (e *external) PID() int           { return e.o.PID }
func (e *external) Close()             {}
