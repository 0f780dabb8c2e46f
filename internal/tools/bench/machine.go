package bench

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Machine describes where a report was measured. The load average shows
// whether others were using the machine at the time.
type Machine struct {
	CPUs      int     `json:"cpus"`
	MemoryGiB float64 `json:"memory_gib"`
	GoVersion string  `json:"go_version"`
	LoadAvg   string  `json:"load_avg"` // 1, 5 and 15 minutes, at the start
}

// ThisMachine describes the machine the process runs on.
func ThisMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	if kb, ok := meminfo("MemTotal"); ok {
		m.MemoryGiB = float64(kb) / (1 << 20)
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			m.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	return m
}

// String describes the machine in one line.
func (m Machine) String() string {
	return fmt.Sprintf("%d CPUs, %.1f GiB, %s, load average %s", m.CPUs, m.MemoryGiB, m.GoVersion, m.LoadAvg)
}

// meminfo returns a field of /proc/meminfo in KiB.
func meminfo(field string) (int64, bool) {
	return procField("/proc/meminfo", field)
}

// procField reads "Name:   123 kB" style fields of a /proc file, in KiB.
func procField(path, field string) (int64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		fs := strings.Fields(rest)
		if len(fs) == 0 {
			return 0, false
		}
		v, err := strconv.ParseInt(fs[0], 10, 64)
		return v, err == nil
	}
	return 0, false
}

// cpuTime returns the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuMeter measures how many cores this process, and the whole machine,
// kept busy over a span: the difference is what other processes took (the
// machine may be shared).
type cpuMeter struct {
	cpu     time.Duration
	machine time.Duration
	wall    time.Time
}

func startCPU() cpuMeter { return cpuMeter{cpuTime(), machineBusy(), time.Now()} }

// cores returns the cores this process and other processes kept busy since
// the start, on average.
func (m cpuMeter) cores() (own, others float64) {
	wall := time.Since(m.wall)
	if wall <= 0 {
		return 0, 0
	}
	ownCPU := cpuTime() - m.cpu
	return float64(ownCPU) / float64(wall), max(0, float64(machineBusy()-m.machine-ownCPU)/float64(wall))
}

// machineBusy returns the CPU time all processes of the machine have used,
// from /proc/stat (0 if unreadable).
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0
	}
	var ticks int64
	for i, v := range f[1:8] { // user nice system idle iowait irq softirq
		if i == 3 || i == 4 {
			continue // idle, iowait
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ is 100 on Linux
}
