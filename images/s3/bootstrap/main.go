// hearth-s3-bootstrap gives an application its own bucket and its own key on
// the Versity S3 Gateway of this image, idempotently (run it on every
// deployment: a second run changes nothing, a changed secret is set again):
//
//  1. the bucket, created by the root account, which stays its owner: an
//     owner could delete the bucket or rewrite its policy;
//  2. the key: an IAM account with role `user` (may not create buckets, sees
//     only buckets it owns, may not use the admin API), its secret set from
//     the secret file every time;
//  3. a bucket policy granting that key object reads, writes and deletes,
//     listing, and multipart upload clean-up in this bucket, nothing else.
//
// Every secret comes from a file named by a *_FILE variable (or the plain
// variable): none is ever on a command line. Requests are signed with AWS
// Signature Version 4, by the standard library alone.
package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"
)

const usage = `usage: hearth-s3-bootstrap

Environment (X_FILE names a file holding X; set one of the two):
  ROOT_ACCESS_KEY[_FILE], ROOT_SECRET_KEY[_FILE]  the gateway's root account
  S3_BUCKET                                       the application's bucket
  APP_ACCESS_KEY                                  the application's access key id
  APP_SECRET_KEY[_FILE]                           its secret
  S3_ENDPOINT        S3 API     (default http://127.0.0.1:7070)
  S3_ADMIN_ENDPOINT  admin API  (default http://127.0.0.1:7071)
  S3_REGION          (default us-east-1)
`

// Actions the application's key gets. Bucket level: list objects and
// incomplete multipart uploads (to abort expired ones). Object level: read,
// write, delete, and abort or inspect multipart uploads.
var (
	bucketActions = []string{"s3:ListBucket", "s3:ListBucketMultipartUploads", "s3:GetBucketLocation"}
	objectActions = []string{
		"s3:GetObject", "s3:PutObject", "s3:DeleteObject",
		"s3:AbortMultipartUpload", "s3:ListMultipartUploadParts",
	}
)

type config struct {
	endpoint, adminEndpoint, region string
	root, app                       credentials
	bucket                          string
}

type credentials struct{ access, secret string }

func main() {
	if len(os.Args) > 1 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	cfg, err := load()
	if err != nil {
		fail("%v\n\n%s", err, usage)
	}
	if err := bootstrap(cfg, &http.Client{Timeout: 20 * time.Second}); err != nil {
		fail("%v", err)
	}
	fmt.Printf("hearth-s3-bootstrap: bucket %s and key %s ready\n", cfg.bucket, cfg.app.access)
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "hearth-s3-bootstrap: error: "+format+"\n", args...)
	os.Exit(1)
}

// env reads NAME, or the file named by NAME_FILE (without its final newlines).
func env(name string, required bool) (string, error) {
	value, file := os.Getenv(name), os.Getenv(name+"_FILE")
	if value != "" && file != "" {
		return "", fmt.Errorf("both %s and %s_FILE are set; set only one", name, name)
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("%s_FILE: %w", name, err)
		}
		value = strings.TrimRight(string(b), "\r\n")
	}
	if value == "" && required {
		return "", fmt.Errorf("set %s (or %s_FILE)", name, name)
	}
	return value, nil
}

func load() (config, error) {
	cfg := config{
		endpoint:      "http://127.0.0.1:7070",
		adminEndpoint: "http://127.0.0.1:7071",
		region:        "us-east-1",
	}
	var errs []error
	get := func(dst *string, name string, required bool) {
		v, err := env(name, required)
		if err != nil {
			errs = append(errs, err)
		} else if v != "" {
			*dst = v
		}
	}
	get(&cfg.root.access, "ROOT_ACCESS_KEY", true)
	get(&cfg.root.secret, "ROOT_SECRET_KEY", true)
	get(&cfg.bucket, "S3_BUCKET", true)
	get(&cfg.app.access, "APP_ACCESS_KEY", true)
	get(&cfg.app.secret, "APP_SECRET_KEY", true)
	get(&cfg.endpoint, "S3_ENDPOINT", false)
	get(&cfg.adminEndpoint, "S3_ADMIN_ENDPOINT", false)
	get(&cfg.region, "S3_REGION", false)
	if cfg.app.access != "" && cfg.app.access == cfg.root.access {
		errs = append(errs, errors.New("APP_ACCESS_KEY must not be the root access key"))
	}
	if len(cfg.app.secret) > 0 && len(cfg.app.secret) < 16 {
		errs = append(errs, errors.New("APP_SECRET_KEY must have at least 16 characters"))
	}
	return cfg, errors.Join(errs...)
}

func bootstrap(cfg config, client *http.Client) error {
	root := signer{cfg.root, cfg.region}
	bucketURL := strings.TrimRight(cfg.endpoint, "/") + "/" + cfg.bucket
	admin := strings.TrimRight(cfg.adminEndpoint, "/")

	// 1. The bucket. The server is healthy before this runs (depends_on), but
	// a restarted server may still be starting: retry for a while.
	var r response
	var err error
	for deadline := time.Now().Add(60 * time.Second); ; {
		r, err = root.do(client, http.MethodPut, bucketURL, nil)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", cfg.bucket, err)
	}
	switch {
	case r.status == http.StatusOK:
		fmt.Printf("bucket %s created\n", cfg.bucket)
	case r.code == "BucketAlreadyOwnedByYou" || r.code == "BucketAlreadyExists":
		fmt.Printf("bucket %s exists\n", cfg.bucket)
	default:
		return r.fail("create bucket " + cfg.bucket)
	}
	// Root owns it, whoever made it: the application's key must not.
	q := url.Values{"bucket": {cfg.bucket}, "owner": {cfg.root.access}}
	if r, err = root.do(client, http.MethodPatch, admin+"/change-bucket-owner?"+q.Encode(), nil); err != nil {
		return fmt.Errorf("change bucket owner: %w", err)
	} else if r.status >= 300 {
		return r.fail("change the owner of bucket " + cfg.bucket + " to root")
	}

	// 2. The application's key: created, or its secret and role set again.
	type account struct {
		XMLName xml.Name `xml:"Account"`
		Access  string
		Secret  string
		Role    string
	}
	body, _ := xml.Marshal(account{Access: cfg.app.access, Secret: cfg.app.secret, Role: "user"})
	if r, err = root.do(client, http.MethodPatch, admin+"/create-user", body); err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	switch {
	case r.status < 300:
		fmt.Printf("key %s created\n", cfg.app.access)
	case r.code == "XAdminUserExists":
		type props struct {
			XMLName xml.Name `xml:"MutableProps"`
			Secret  string
			Role    string
		}
		body, _ = xml.Marshal(props{Secret: cfg.app.secret, Role: "user"})
		q := url.Values{"access": {cfg.app.access}}
		if r, err = root.do(client, http.MethodPatch, admin+"/update-user?"+q.Encode(), body); err != nil {
			return fmt.Errorf("update user: %w", err)
		} else if r.status >= 300 {
			return r.fail("update key " + cfg.app.access)
		}
		fmt.Printf("key %s exists; secret and role set again\n", cfg.app.access)
	default:
		return r.fail("create key " + cfg.app.access)
	}

	// 3. The bucket policy: exactly what the key may do in this bucket.
	if r, err = root.do(client, http.MethodPut, bucketURL+"?policy", Policy(cfg.bucket, cfg.app.access)); err != nil {
		return fmt.Errorf("put bucket policy: %w", err)
	} else if r.status >= 300 {
		return r.fail("put the policy of bucket " + cfg.bucket)
	}

	// The key works: it may list its bucket.
	app := signer{cfg.app, cfg.region}
	if r, err = app.do(client, http.MethodGet, bucketURL+"?list-type=2&max-keys=1", nil); err != nil {
		return fmt.Errorf("list bucket as %s: %w", cfg.app.access, err)
	} else if r.status != http.StatusOK {
		return r.fail("list bucket " + cfg.bucket + " with key " + cfg.app.access)
	}
	return nil
}

// Policy is the bucket policy granting access key `key` its rights in `bucket`.
func Policy(bucket, key string) []byte {
	type statement struct {
		Sid       string
		Effect    string
		Principal map[string][]string
		Action    []string
		Resource  []string
	}
	principal := map[string][]string{"AWS": {key}}
	doc := struct {
		Version   string
		Statement []statement
	}{
		Version: "2012-10-17",
		Statement: []statement{
			{"AppBucket", "Allow", principal, bucketActions, []string{"arn:aws:s3:::" + bucket}},
			{"AppObjects", "Allow", principal, objectActions, []string{"arn:aws:s3:::" + bucket + "/*"}},
		},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	return b
}

type response struct {
	status        int
	code, message string
}

func (r response) fail(what string) error {
	return fmt.Errorf("%s: HTTP %d %s: %s", what, r.status, r.code, r.message)
}

// signer signs requests with AWS Signature Version 4 (service s3).
type signer struct {
	creds  credentials
	region string
}

func (s signer) do(client *http.Client, method, rawURL string, body []byte) (response, error) {
	req, err := http.NewRequest(method, rawURL, bytes.NewReader(body))
	if err != nil {
		return response{}, err
	}
	s.sign(req, body, time.Now().UTC())
	resp, err := client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return response{}, err
	}
	var e struct{ Code, Message string }
	if resp.StatusCode >= 300 {
		_ = xml.Unmarshal(data, &e)
	}
	return response{resp.StatusCode, e.Code, e.Message}, nil
}

func (s signer) sign(req *http.Request, body []byte, now time.Time) {
	payload := sha256.Sum256(body)
	payloadHex := hex.EncodeToString(payload[:])
	amzDate := now.Format("20060102T150405Z")
	day := amzDate[:8]
	req.Header.Set("X-Amz-Date", amzDate)
	req.Header.Set("X-Amz-Content-Sha256", payloadHex)

	headers := map[string]string{
		"host":                 req.URL.Host,
		"x-amz-content-sha256": payloadHex,
		"x-amz-date":           amzDate,
	}
	names := make([]string, 0, len(headers))
	for name := range headers {
		names = append(names, name)
	}
	sort.Strings(names)
	var canonicalHeaders strings.Builder
	for _, name := range names {
		canonicalHeaders.WriteString(name + ":" + headers[name] + "\n")
	}
	signedHeaders := strings.Join(names, ";")

	canonical := strings.Join([]string{
		req.Method,
		canonicalPath(req.URL.Path),
		canonicalQuery(req.URL.Query()),
		canonicalHeaders.String(),
		signedHeaders,
		payloadHex,
	}, "\n")
	scope := day + "/" + s.region + "/s3/aws4_request"
	hashed := sha256.Sum256([]byte(canonical))
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(hashed[:])

	key := mac([]byte("AWS4"+s.creds.secret), day)
	key = mac(key, s.region)
	key = mac(key, "s3")
	key = mac(key, "aws4_request")
	signature := hex.EncodeToString(mac(key, toSign))
	req.Header.Set("Authorization", fmt.Sprintf(
		"AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s",
		s.creds.access, scope, signedHeaders, signature))
}

func mac(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

// escape is SigV4's URI encoding: every byte but A-Z a-z 0-9 - . _ ~ as %XX.
func escape(s string, keepSlash bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_', c == '~', keepSlash && c == '/':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func canonicalPath(p string) string {
	if p == "" {
		return "/"
	}
	return escape(p, true)
}

func canonicalQuery(q url.Values) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		values := append([]string(nil), q[k]...)
		sort.Strings(values)
		for _, v := range values {
			parts = append(parts, escape(k, false)+"="+escape(v, false))
		}
	}
	return strings.Join(parts, "&")
}
