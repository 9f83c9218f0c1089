// hearth-s3-run: the S3 container's main process. It runs the gateway (its
// arguments: versitygw and its own) as its child, passes on the signals it gets,
// and exits with the gateway's status, so the container lives as long as the
// gateway; and it serves the container's memory on /metrics, which the gateway
// cannot export (statsd only) and nothing outside the container can read
// (docs/monitoring.md#memory). Standard library only.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// forwarded are the signals passed on to the gateway: stop (TERM, INT), reload
// (HUP), the Go runtime's stack dump (QUIT), and the user's own.
var forwarded = []os.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT,
	syscall.SIGUSR1, syscall.SIGUSR2}

// run starts cmd, passes every signal of sigs on to it until it ends, and returns its
// status: its exit code, or 128 + the signal that killed it (as a shell says).
func run(cmd *exec.Cmd, sigs <-chan os.Signal) (int, error) {
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case sig := <-sigs:
			if err := cmd.Process.Signal(sig); err != nil {
				log.Printf("passing %v on: %v", sig, err)
			}
		case err := <-done:
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				return 0, err
			}
			if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				return 128 + int(ws.Signal()), nil
			}
			return exit.ExitCode(), nil
		}
	}
}

// cgroupMemory names, under a cgroup mount, the files giving a container's memory
// use and the memory.stat field of its inactive file cache: cgroup v2 first, then
// v1's memory controller (its total_ field counts the hierarchy, as cAdvisor does).
var cgroupMemory = []struct {
	usage, stat string
	inactive    []string
}{
	{"memory.current", "memory.stat", []string{"inactive_file"}},
	{"memory/memory.usage_in_bytes", "memory/memory.stat", []string{"total_inactive_file", "inactive_file"}},
}

// workingSet is the memory of the container whose cgroup is mounted at root (its own,
// /sys/fs/cgroup, inside a container) less the file cache the kernel can drop first:
// the figure its memory limit is held against (docker stats and cAdvisor give it too).
// The same as the NATS exporter's (images/monitoring/nats-exporter): each build context
// stands alone.
func workingSet(root string) (float64, error) {
	var errs []error
	for _, f := range cgroupMemory {
		used, err := readCounter(filepath.Join(root, f.usage))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		stat, err := os.ReadFile(filepath.Join(root, f.stat))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		inactive, err := statField(string(stat), f.inactive)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", filepath.Join(root, f.stat), err)
		}
		return max(used-inactive, 0), nil
	}
	return 0, errors.Join(errs...)
}

func readCounter(path string) (float64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return float64(v), nil
}

// statField is the value of the first of keys found in a memory.stat ("key value" lines).
func statField(stat string, keys []string) (float64, error) {
	fields := map[string]string{}
	for _, line := range strings.Split(stat, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), " "); ok {
			fields[k] = v
		}
	}
	for _, k := range keys {
		if v, ok := fields[k]; ok {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%s: %w", k, err)
			}
			return float64(n), nil
		}
	}
	return 0, fmt.Errorf("no %s field", strings.Join(keys, " or "))
}

// metrics answers a scrape with the container's working set; with no sample when the
// cgroup cannot be read (an absent series, never a false zero). No `container` label:
// the figure is the scraped service's own (rules/services.yml).
func metrics(cgroup string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		ws, err := workingSet(cgroup)
		if err != nil {
			log.Printf("memory: %v", err)
			return
		}
		fmt.Fprintf(w, "# HELP hearth_container_memory_working_set_bytes This container's memory as its "+
			"cgroup counts it, less the inactive file cache: what its memory limit is held against\n"+
			"# TYPE hearth_container_memory_working_set_bytes gauge\n"+
			"hearth_container_memory_working_set_bytes %g\n", ws)
	}
}

func main() {
	listen := flag.String("listen", ":7072", "address to serve /metrics on")
	cgroup := flag.String("cgroup", "/sys/fs/cgroup", "where this container's cgroup is mounted")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: %s [flags] command [args...]\n", os.Args[0])
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	log.SetPrefix("hearth-s3-run: ")
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, forwarded...)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", metrics(*cgroup))
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		// The gateway keeps serving without it: the failed scrape says so (ServiceDown).
		log.Printf("metrics: %v", srv.ListenAndServe())
	}()

	cmd := exec.Command(flag.Arg(0), flag.Args()[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	code, err := run(cmd, sigs)
	if err != nil {
		log.Fatalf("%s: %v", flag.Arg(0), err)
	}
	os.Exit(code)
}
