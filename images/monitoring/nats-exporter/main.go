// hearth-nats-exporter: NATS server and JetStream figures in the Prometheus text
// format, read from nats-server's HTTP monitoring endpoint (/varz, /jsz) on
// every scrape. The NATS project's own exporter is not obtainable here (the Go
// module proxy refuses it), so this is the small part of it the platform needs:
// connections, messages, slow consumers, and per stream and consumer the depth
// and the lag. Also its own container's memory, read from its cgroup, which the
// generic memory alert holds against the limit. Standard library only.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

type varz struct {
	Connections   float64 `json:"connections"`
	TotalConns    float64 `json:"total_connections"`
	InMsgs        float64 `json:"in_msgs"`
	OutMsgs       float64 `json:"out_msgs"`
	InBytes       float64 `json:"in_bytes"`
	OutBytes      float64 `json:"out_bytes"`
	SlowConsumers float64 `json:"slow_consumers"`
	Mem           float64 `json:"mem"`
	Subscriptions float64 `json:"subscriptions"`
}

type consumer struct {
	Name          string  `json:"name"`
	NumPending    float64 `json:"num_pending"`
	NumAckPending float64 `json:"num_ack_pending"`
	NumRedeliver  float64 `json:"num_redelivered"`
	NumWaiting    float64 `json:"num_waiting"`
}

type stream struct {
	Name  string `json:"name"`
	State struct {
		Messages  float64 `json:"messages"`
		Bytes     float64 `json:"bytes"`
		Consumers float64 `json:"consumer_count"`
	} `json:"state"`
	Consumers []consumer `json:"consumer_detail"`
}

type jsz struct {
	Memory   float64 `json:"memory"`
	Storage  float64 `json:"storage"`
	Accounts []struct {
		Name    string   `json:"name"`
		Streams []stream `json:"stream_detail"`
	} `json:"account_details"`
}

// sample is one line of the exposition: a metric, its labels and its value.
type sample struct {
	name   string
	labels string
	value  float64
}

func label(pairs ...string) string {
	parts := make([]string, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		v := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(pairs[i+1])
		parts = append(parts, fmt.Sprintf(`%s="%s"`, pairs[i], v))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

var help = map[string]string{
	"nats_up":                               "1 when nats-server's monitoring endpoint answered this scrape",
	"nats_varz_connections":                 "Client connections open",
	"nats_varz_total_connections":           "Client connections since the server started",
	"nats_varz_in_msgs":                     "Messages received since the server started",
	"nats_varz_out_msgs":                    "Messages sent since the server started",
	"nats_varz_in_bytes":                    "Bytes received since the server started",
	"nats_varz_out_bytes":                   "Bytes sent since the server started",
	"nats_varz_slow_consumers":              "Slow consumers since the server started",
	"nats_varz_mem":                         "Resident memory of nats-server in bytes",
	"nats_varz_subscriptions":               "Subscriptions",
	"nats_jetstream_memory_bytes":           "JetStream memory storage in use",
	"nats_jetstream_storage_bytes":          "JetStream file storage in use",
	"nats_stream_messages":                  "Messages in a stream",
	"nats_stream_bytes":                     "Bytes in a stream",
	"nats_consumer_num_pending":             "Messages of the stream a consumer has not been delivered yet (its lag)",
	"nats_consumer_num_ack_pending":         "Messages delivered to a consumer and not acknowledged yet",
	"nats_consumer_num_redelivered":         "Messages redelivered to a consumer",
	"nats_consumer_num_waiting":             "Pull requests waiting on a consumer",
	"nats_exporter_scrape_duration_seconds": "Time this scrape took",
	"hearth_container_memory_working_set_bytes": "This container's memory as its cgroup counts it, " +
		"less the inactive file cache: what its memory limit is held against",
}

var counters = map[string]bool{
	"nats_varz_total_connections": true, "nats_varz_in_msgs": true, "nats_varz_out_msgs": true,
	"nats_varz_in_bytes": true, "nats_varz_out_bytes": true, "nats_varz_slow_consumers": true,
}

func get(client *http.Client, url string, into any) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", url, resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(into)
}

// collect reads the server's endpoints and returns every sample; up is 0 when it
// could not (and the other samples are then absent, never zero).
func collect(client *http.Client, base string) []sample {
	var v varz
	var j jsz
	if err := get(client, base+"/varz", &v); err != nil {
		log.Printf("varz: %v", err)
		return []sample{{"nats_up", "", 0}}
	}
	if err := get(client, base+"/jsz?accounts=true&streams=true&consumers=true", &j); err != nil {
		log.Printf("jsz: %v", err)
		return []sample{{"nats_up", "", 0}}
	}
	out := []sample{
		{"nats_up", "", 1},
		{"nats_varz_connections", "", v.Connections},
		{"nats_varz_total_connections", "", v.TotalConns},
		{"nats_varz_in_msgs", "", v.InMsgs},
		{"nats_varz_out_msgs", "", v.OutMsgs},
		{"nats_varz_in_bytes", "", v.InBytes},
		{"nats_varz_out_bytes", "", v.OutBytes},
		{"nats_varz_slow_consumers", "", v.SlowConsumers},
		{"nats_varz_mem", "", v.Mem},
		{"nats_varz_subscriptions", "", v.Subscriptions},
		{"nats_jetstream_memory_bytes", "", j.Memory},
		{"nats_jetstream_storage_bytes", "", j.Storage},
	}
	for _, acc := range j.Accounts {
		for _, s := range acc.Streams {
			sl := label("account", acc.Name, "stream", s.Name)
			out = append(out,
				sample{"nats_stream_messages", sl, s.State.Messages},
				sample{"nats_stream_bytes", sl, s.State.Bytes})
			for _, c := range s.Consumers {
				cl := label("account", acc.Name, "stream", s.Name, "consumer", c.Name)
				out = append(out,
					sample{"nats_consumer_num_pending", cl, c.NumPending},
					sample{"nats_consumer_num_ack_pending", cl, c.NumAckPending},
					sample{"nats_consumer_num_redelivered", cl, c.NumRedeliver},
					sample{"nats_consumer_num_waiting", cl, c.NumWaiting})
			}
		}
	}
	return out
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

// ownMemory is the sample of this container's working set; none when the cgroup files
// cannot be read (an absent series, never a false zero).
func ownMemory(root string) []sample {
	ws, err := workingSet(root)
	if err != nil {
		log.Printf("memory: %v", err)
		return nil
	}
	// No `container` label: the figure is the scraped service's own (rules/services.yml).
	return []sample{{"hearth_container_memory_working_set_bytes", "", ws}}
}

// expose writes samples grouped by metric, each group headed by HELP and TYPE.
func expose(w io.Writer, samples []sample) {
	byName := map[string][]sample{}
	for _, s := range samples {
		byName[s.name] = append(byName[s.name], s)
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		kind := "gauge"
		if counters[n] {
			kind = "counter"
		}
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", n, help[n], n, kind)
		for _, s := range byName[n] {
			fmt.Fprintf(w, "%s%s %g\n", n, s.labels, s.value)
		}
	}
}

// metrics answers a scrape: the server's figures, then this container's memory.
func metrics(client *http.Client, server, cgroup string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		start := time.Now()
		samples := collect(client, strings.TrimRight(server, "/"))
		samples = append(samples, ownMemory(cgroup)...)
		samples = append(samples, sample{"nats_exporter_scrape_duration_seconds", "", time.Since(start).Seconds()})
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		expose(w, samples)
	}
}

func main() {
	listen := flag.String("listen", ":7777", "address to serve /metrics on")
	server := flag.String("server", "http://nats:8222", "nats-server's monitoring URL")
	cgroup := flag.String("cgroup", "/sys/fs/cgroup", "where this container's cgroup is mounted")
	flag.Parse()
	http.HandleFunc("/metrics", metrics(&http.Client{Timeout: 5 * time.Second}, *server, *cgroup))
	http.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	srv := &http.Server{Addr: *listen, ReadHeaderTimeout: 5 * time.Second}
	log.Printf("serving /metrics on %s for %s", *listen, *server)
	log.Fatal(srv.ListenAndServe())
}
