package load

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// ProcStat is a process's CPU time and memory, from /proc.
type ProcStat struct {
	CPU time.Duration // user + system, all threads
	// RSS and PeakRSS (VmHWM) in bytes.
	RSS, PeakRSS int64
	// MinorFaults are page faults served without I/O: memory touched for the first time.
	MinorFaults int64
}

// clockTicks is USER_HZ, 100 on every Linux ABI Go supports.
const clockTicks = 100

// readProc reads /proc/PID/stat and /proc/PID/status; a zero pid reads nothing.
func readProc(pid int) (ProcStat, error) {
	var ps ProcStat
	if pid <= 0 {
		return ps, nil
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ps, err
	}
	// Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return ps, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(fields))
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	ps.CPU = time.Duration(utime+stime) * time.Second / clockTicks
	ps.MinorFaults, _ = strconv.ParseInt(fields[7], 10, 64)
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ps, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			ps.RSS = kb << 10
		case "VmHWM":
			ps.PeakRSS = kb << 10
		}
	}
	return ps, sc.Err()
}

// Metrics are a scrape of the server's Prometheus metrics: counters and gauges by
// "name{label="value"}", histograms as name_count and name_sum.
type Metrics map[string]float64

// scrape reads url; "" gives no metrics.
func scrape(url string) (Metrics, error) {
	if url == "" {
		return nil, nil
	}
	client := &http.Client{Timeout: 10 * time.Second}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	// Uncompressed: the driver scrapes every 100 ms while waiting for quiet, and gzip
	// was most of what a scrape cost the server under test.
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	out := Metrics{}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			key := name + labelString(m)
			switch {
			case m.GetCounter() != nil:
				out[key] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[key] = m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				out[name+"_count"+labelString(m)] = float64(m.GetHistogram().GetSampleCount())
				out[name+"_sum"+labelString(m)] = m.GetHistogram().GetSampleSum()
			case m.GetSummary() != nil:
				out[name+"_count"+labelString(m)] = float64(m.GetSummary().GetSampleCount())
				out[name+"_sum"+labelString(m)] = m.GetSummary().GetSampleSum()
			}
		}
	}
	return out, nil
}

func labelString(m *dto.Metric) string {
	if len(m.GetLabel()) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, l := range m.GetLabel() {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", l.GetName(), l.GetValue())
	}
	b.WriteByte('}')
	return b.String()
}

// Sub returns m - before for every key of m.
func (m Metrics) Sub(before Metrics) Metrics {
	if m == nil {
		return nil
	}
	out := Metrics{}
	for k, v := range m {
		out[k] = v - before[k]
	}
	return out
}

// ByType sums name{type="t"} for each xDS type short name.
func (m Metrics) ByType(name string) [4]float64 {
	var out [4]float64
	for i, t := range TypeNames {
		out[i] = m[fmt.Sprintf("%s{type=%q}", name, t)]
	}
	return out
}

// loadAvg is the 1-minute load average, 0 if unreadable.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f, _ := strconv.ParseFloat(strings.Fields(string(b))[0], 64)
	return f
}

// machineCPU is the machine's busy (non-idle, non-iowait) and stolen CPU time so far,
// from /proc/stat: with the server's and driver's own, it tells how much else ran.
func machineCPU() (busy, steal time.Duration) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0
	}
	var v [8]int64
	for i := range v {
		v[i], _ = strconv.ParseInt(f[i+1], 10, 64)
	}
	tick := func(n int64) time.Duration { return time.Duration(n) * time.Second / clockTicks }
	return tick(v[0] + v[1] + v[2] + v[5] + v[6]), tick(v[7])
}

// gcCycles is the number of collections this process has completed.
func gcCycles() uint64 {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
