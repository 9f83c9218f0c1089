package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

var example = signer{
	credentials{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"},
	"us-east-1",
}

func signature(t *testing.T, method, url, body string) string {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	example.sign(req, []byte(body), time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC))
	auth := req.Header.Get("Authorization")
	return auth[strings.LastIndex(auth, "=")+1:]
}

// AWS's own example "GET Bucket Lifecycle" (S3 API reference, Signature Version 4).
func TestSignatureMatchesAWSExample(t *testing.T) {
	got := signature(t, http.MethodGet, "https://examplebucket.s3.amazonaws.com/?lifecycle", "")
	if want := "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"; got != want {
		t.Fatalf("signature %s, want %s", got, want)
	}
}

// A request with a query and a body, as botocore's S3SigV4Auth signs it.
func TestSignatureMatchesBotocore(t *testing.T) {
	got := signature(t, http.MethodPatch, "http://s3:7071/update-user?access=hearth-app",
		"<MutableProps><Secret>x</Secret></MutableProps>")
	if want := "75fdbfe3c8621d1cc051bc5c1e3f79ad47e8e8d0d8489210ad002e1fed777472"; got != want {
		t.Fatalf("signature %s, want %s", got, want)
	}
}

func TestPolicyGrantsTheKeyOnlyItsBucket(t *testing.T) {
	var doc struct {
		Statement []struct {
			Effect    string
			Principal map[string][]string
			Action    []string
			Resource  []string
		}
	}
	if err := json.Unmarshal(Policy("hearth", "hearth-app"), &doc); err != nil {
		t.Fatal(err)
	}
	granted := map[string][]string{}
	for _, s := range doc.Statement {
		if s.Effect != "Allow" || strings.Join(s.Principal["AWS"], ",") != "hearth-app" || len(s.Resource) != 1 {
			t.Fatalf("statement %+v", s)
		}
		granted[s.Resource[0]] = append(granted[s.Resource[0]], s.Action...)
	}
	want := map[string]string{
		"arn:aws:s3:::hearth":   "s3:ListBucket s3:ListBucketMultipartUploads s3:GetBucketLocation",
		"arn:aws:s3:::hearth/*": "s3:GetObject s3:PutObject s3:DeleteObject s3:AbortMultipartUpload s3:ListMultipartUploadParts",
	}
	if len(granted) != len(want) {
		t.Fatalf("resources %v", granted)
	}
	for resource, actions := range want {
		if got := strings.Join(granted[resource], " "); got != actions {
			t.Fatalf("%s: %s, want %s", resource, got, actions)
		}
	}
}
