package bench

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
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
