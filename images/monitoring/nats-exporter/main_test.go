package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCollectReportsConsumerLagAndStreamDepth(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/varz":
			w.Write([]byte(`{"connections": 3, "in_msgs": 10, "slow_consumers": 0}`))
		case "/jsz":
			w.Write([]byte(`{"account_details": [{"name": "$G", "stream_detail": [
				{"name": "HEARTH_DLQ", "state": {"messages": 2, "bytes": 100},
				 "consumer_detail": [{"name": "worker", "num_pending": 7, "num_ack_pending": 1}]}]}]}`))
		}
	}))
	defer srv.Close()
	var out bytes.Buffer
	expose(&out, collect(srv.Client(), srv.URL))
	for _, want := range []string{
		"nats_up 1\n",
		"nats_varz_connections 3\n",
		"# TYPE nats_varz_in_msgs counter\n",
		`nats_stream_messages{account="$G",stream="HEARTH_DLQ"} 2` + "\n",
		`nats_consumer_num_pending{account="$G",stream="HEARTH_DLQ",consumer="worker"} 7` + "\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("missing %q in:\n%s", want, out.String())
		}
	}
}

func TestCollectSaysDownWhenTheServerDoesNotAnswer(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	var out bytes.Buffer
	expose(&out, collect(srv.Client(), srv.URL))
	if !strings.Contains(out.String(), "nats_up 0\n") || strings.Contains(out.String(), "nats_varz") {
		t.Errorf("want only nats_up 0, got:\n%s", out.String())
	}
}

// cgroupFiles writes files under a fresh directory standing for /sys/fs/cgroup.
func cgroupFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		path := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestWorkingSetIsUsageLessInactiveFileCache(t *testing.T) {
	for name, files := range map[string]map[string]string{
		"cgroup v2": {
			"memory.current": "10485760\n",
			"memory.stat":    "anon 6291456\nfile 4194304\nactive_file 1048576\ninactive_file 3145728\n",
		},
		"cgroup v1": {
			"memory/memory.usage_in_bytes": "10485760\n",
			"memory/memory.stat": "cache 4194304\nrss 6291456\ninactive_file 1\n" +
				"total_cache 4194304\ntotal_inactive_file 3145728\n",
		},
		"cgroup v1 without the hierarchy's totals": {
			"memory/memory.usage_in_bytes": "10485760\n",
			"memory/memory.stat":           "cache 4194304\ninactive_file 3145728\n",
		},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := workingSet(cgroupFiles(t, files))
			if err != nil || got != 7340032 {
				t.Errorf("want 7340032 (10 MiB less 3 MiB), got %v, %v", got, err)
			}
		})
	}
}

func TestWorkingSetNeverGoesBelowZero(t *testing.T) {
	root := cgroupFiles(t, map[string]string{
		"memory.current": "4096\n",
		"memory.stat":    "inactive_file 8192\n",
	})
	if got, err := workingSet(root); err != nil || got != 0 {
		t.Errorf("want 0, got %v, %v", got, err)
	}
}

func TestWorkingSetFailsWithoutCgroupFilesOrTheField(t *testing.T) {
	if _, err := workingSet(t.TempDir()); err == nil {
		t.Error("no cgroup files: want an error")
	}
	root := cgroupFiles(t, map[string]string{"memory.current": "4096\n", "memory.stat": "anon 4096\n"})
	if _, err := workingSet(root); err == nil || !strings.Contains(err.Error(), "inactive_file") {
		t.Errorf("no inactive_file: want an error naming it, got %v", err)
	}
}

func TestAScrapeGivesTheContainersOwnMemoryEvenWithNatsDown(t *testing.T) {
	nats := httptest.NewServer(http.NotFoundHandler())
	defer nats.Close()
	root := cgroupFiles(t, map[string]string{
		"memory.current": "10485760\n",
		"memory.stat":    "inactive_file 3145728\n",
	})
	rec := httptest.NewRecorder()
	metrics(nats.Client(), nats.URL, root)(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{
		"nats_up 0\n",
		"# TYPE hearth_container_memory_working_set_bytes gauge\n",
		// No `container` label: the recording rule gives it to the scraped service.
		"hearth_container_memory_working_set_bytes 7.340032e+06\n",
	} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("missing %q in:\n%s", want, rec.Body.String())
		}
	}
}

func TestAScrapeLeavesTheMemoryOutWhenTheCgroupIsUnreadable(t *testing.T) {
	nats := httptest.NewServer(http.NotFoundHandler())
	defer nats.Close()
	rec := httptest.NewRecorder()
	metrics(nats.Client(), nats.URL, t.TempDir())(rec, httptest.NewRequest("GET", "/metrics", nil))
	if strings.Contains(rec.Body.String(), "hearth_container_memory") {
		t.Errorf("want no memory figure (absent, not zero), got:\n%s", rec.Body.String())
	}
}
