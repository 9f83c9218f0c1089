package main

import (
	"bufio"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary stands in for the gateway when HEARTH_S3_RUN_CHILD says how to behave.
func TestMain(m *testing.M) {
	switch os.Getenv("HEARTH_S3_RUN_CHILD") {
	case "exit 3":
		os.Exit(3)
	case "killed":
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		os.Exit(1)
	case "stop on TERM":
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGTERM)
		os.Stdout.WriteString("ready\n")
		<-sigs
		os.Exit(7)
	}
	os.Exit(m.Run())
}

func child(t *testing.T, behaviour string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "HEARTH_S3_RUN_CHILD="+behaviour)
	return cmd
}

func TestRunExitsWithTheGatewaysStatus(t *testing.T) {
	if code, err := run(child(t, "exit 3"), nil); err != nil || code != 3 {
		t.Errorf("want 3, got %d, %v", code, err)
	}
}

func TestRunSaysWhichSignalKilledTheGateway(t *testing.T) {
	if code, err := run(child(t, "killed"), nil); err != nil || code != 128+9 {
		t.Errorf("want 137, got %d, %v", code, err)
	}
}

func TestRunPassesTheStopSignalOn(t *testing.T) {
	sigs := make(chan os.Signal, 1)
	cmd := child(t, "stop on TERM")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan int, 1)
	go func() {
		code, err := run(cmd, sigs)
		if err != nil {
			t.Error(err)
		}
		done <- code
	}()
	if line, err := bufio.NewReader(out).ReadString('\n'); line != "ready\n" {
		t.Fatalf("child: %q, %v", line, err)
	}
	sigs <- syscall.SIGTERM // as `docker stop` sends it
	select {
	case code := <-done:
		if code != 7 {
			t.Errorf("want 7 (the child's answer to TERM), got %d", code)
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("the child did not get TERM")
	}
}

func TestRunSaysWhenTheGatewayCannotStart(t *testing.T) {
	if _, err := run(exec.Command(filepath.Join(t.TempDir(), "missing")), nil); err == nil {
		t.Error("want an error")
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

func TestAScrapeGivesTheContainersMemory(t *testing.T) {
	root := cgroupFiles(t, map[string]string{
		"memory/memory.usage_in_bytes": "10485760\n",
		"memory/memory.stat":           "total_inactive_file 3145728\n",
	})
	rec := httptest.NewRecorder()
	metrics(root)(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{
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
	rec := httptest.NewRecorder()
	metrics(t.TempDir())(rec, httptest.NewRequest("GET", "/metrics", nil))
	if strings.Contains(rec.Body.String(), "hearth_container_memory") {
		t.Errorf("want no sample (absent, not zero), got:\n%s", rec.Body.String())
	}
}
