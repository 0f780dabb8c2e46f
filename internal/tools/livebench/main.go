// Command livebench measures the live push of one API instance: the latency
// from the commit of an output record to its arrival at Socket.IO clients,
// and the API's CPU, under many clients and a steady stream of count
// updates.
//
//	go run ./internal/tools/livebench -clients 1000 -videos-per-client 10 -rate 1000 -duration 30s
//
// It runs three processes (this command re-executes itself for the two
// children), so that the API's CPU is measured alone:
//
//   - producer: the embedded broker, and a transactional producer writing
//     aggregation records to video_aggregations_1 like the workers do
//     (one transaction per 100 ms); it logs the commit time of every record;
//   - clients: WebSocket Socket.IO clients, each registering its videos and
//     consuming the 1-minute counts; they log the arrival time of every
//     live_aggregations_1 event;
//   - this process: one API instance (package apinode: view, feed, push,
//     catalog, generator) serving the clients.
//
// Counts increase by one per record, so (video, count) identifies a record:
// the latency of an event is its arrival time minus the commit time of the
// record with that count. Coalescing skips counts that were overtaken before
// a flush, so only the pushed ones are measured.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/counter-dev/counter/internal/apinode"
	"github.com/counter-dev/counter/internal/apinode/api"
	"github.com/counter-dev/counter/internal/pipeline/window"
)

// roleEnv selects the role of a child process.
const roleEnv = "LIVEBENCH_ROLE"

// params are the benchmark's parameters, passed to the children as flags.
type params struct {
	clients, perClient, videos, rate int
	duration, flush                  time.Duration
	dir                              string
}

func (p *params) register(fs *flag.FlagSet) {
	fs.IntVar(&p.clients, "clients", 1000, "Socket.IO clients")
	fs.IntVar(&p.perClient, "videos-per-client", 10, "videos each client registers")
	fs.IntVar(&p.videos, "videos", 1000, "distinct videos updated")
	fs.IntVar(&p.rate, "rate", 1000, "count updates (output records) per second")
	fs.DurationVar(&p.duration, "duration", 30*time.Second, "measurement time")
	fs.DurationVar(&p.flush, "flush", 50*time.Millisecond, "the API's --live-flush-interval")
	fs.StringVar(&p.dir, "dir", "", "directory for the logs of the children (a temporary one if empty)")
}

func (p *params) args() []string {
	return []string{"-clients", fmt.Sprint(p.clients), "-videos-per-client", fmt.Sprint(p.perClient), "-videos", fmt.Sprint(p.videos),
		"-rate", fmt.Sprint(p.rate), "-duration", p.duration.String(), "-flush", p.flush.String(), "-dir", p.dir}
}

func main() {
	var p params
	fs := flag.NewFlagSet("livebench", flag.ExitOnError)
	p.register(fs)
	_ = fs.Parse(os.Args[1:])
	var err error
	switch os.Getenv(roleEnv) {
	case "producer":
		err = runProducer(p)
	case "clients":
		err = runClients(p)
	default:
		err = runParent(p)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "livebench:", err)
		os.Exit(1)
	}
}

// child is a running child process, talking line by line.
type child struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines *bufio.Scanner
}

func startChild(role string, p params) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, p.args()...)
	cmd.Env = append(os.Environ(), roleEnv+"="+role)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(out)
	sc.Buffer(nil, 1<<20)
	return &child{cmd: cmd, in: in, lines: sc}, nil
}

// expect reads lines until one starts with prefix, and returns the rest.
func (c *child) expect(prefix string) (string, error) {
	for c.lines.Scan() {
		if rest, ok := strings.CutPrefix(c.lines.Text(), prefix); ok {
			return strings.TrimSpace(rest), nil
		}
	}
	return "", fmt.Errorf("child %s ended before %q", c.cmd.Path, prefix)
}

func (c *child) send(line string) error {
	_, err := io.WriteString(c.in, line+"\n")
	return err
}

// cpuTime returns the CPU time this process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func runParent(p params) error {
	if p.dir == "" {
		dir, err := os.MkdirTemp("", "livebench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		p.dir = dir
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	prod, err := startChild("producer", p)
	if err != nil {
		return err
	}
	defer prod.cmd.Process.Kill() //nolint:errcheck // best effort at exit
	addr, err := prod.expect("BROKER")
	if err != nil {
		return err
	}
	sizes, _ := window.ParseSizes([]string{"1m"})
	reg := prometheus.NewRegistry()
	ctx := context.Background()
	node, err := apinode.Start(ctx, apinode.Config{Brokers: []string{addr}, Sizes: sizes, FlushInterval: p.flush, Registry: reg, Logger: log, Instance: "bench"})
	if err != nil {
		return err
	}
	defer node.Close()
	<-node.Ready()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := api.NewHTTPServer("", node.Handler())
	srv.RegisterOnShutdown(node.DisconnectClients)
	go srv.Serve(ln)        //nolint:errcheck // ends with Shutdown
	defer srv.Shutdown(ctx) //nolint:errcheck // best effort at exit

	cl, err := startChild("clients", p)
	if err != nil {
		return err
	}
	defer cl.cmd.Process.Kill() //nolint:errcheck // best effort at exit
	if err := cl.send("URL http://" + ln.Addr().String()); err != nil {
		return err
	}
	if _, err := cl.expect("READY"); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "livebench: %d clients connected, %d videos each; producing %d updates/s for %v\n", p.clients, p.perClient, p.rate, p.duration)

	cpu0, wall0 := cpuTime(), time.Now()
	if err := prod.send("GO"); err != nil {
		return err
	}
	commits, err := prod.expect("DONE")
	if err != nil {
		return err
	}
	cpu, wall := cpuTime()-cpu0, time.Since(wall0)
	time.Sleep(time.Second) // the last pushes
	if err := cl.send("STOP"); err != nil {
		return err
	}
	receipts, err := cl.expect("DONE")
	if err != nil {
		return err
	}
	rep, err := report(commits, receipts)
	if err != nil {
		return err
	}
	rep.cpu, rep.wall = cpu, wall
	rep.dropped = gather(reg, "counter_socketio_dropped_total", "slow_client")
	rep.pushes = gather(reg, "counter_live_pushes_total", "")
	rep.print(os.Stdout, p)
	_ = srv.Shutdown(ctx)
	node.Close()
	_ = prod.send("QUIT")
	_ = cl.cmd.Wait()
	_ = prod.cmd.Wait()
	return nil
}

// gather reads a counter (with the reason label value, if not empty).
func gather(reg *prometheus.Registry, name, reason string) float64 {
	mfs, _ := reg.Gather()
	var v float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := reason == ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					match = true
				}
			}
			if match {
				v += m.GetCounter().GetValue()
			}
		}
	}
	return v
}
