package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
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
