// bare-ssa: the floor for a first sync, for bench/sync-once/run.sh. It sends exactly one
// server-side apply per object and nothing else: no discovery, no reads, no inventory, no
// output, Go's own HTTP/1.1 client with keep-alive, -c requests in flight. Whatever a real
// tool adds (a kubectl-compatible inventory, the lists that tell created from configured, its
// start-up) comes on top, so a tool's first sync cannot be faster than this on the same server.
//
// usage: bare-ssa -server URL -ca FILE -token FILE -file LINES [-c 16]
// LINES holds one object per line: its URL path, a tab, its JSON.
package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
)

func main() {
	server := flag.String("server", "", "the API server's URL")
	caFile := flag.String("ca", "", "the CA bundle of the server's certificate")
	tokenFile := flag.String("token", "", "a file holding a bearer token")
	file := flag.String("file", "", "the objects: URL path, tab, JSON, one per line")
	concurrency := flag.Int("c", 16, "requests in flight")
	flag.Parse()
	fail := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "bare-ssa: error: "+format+"\n", args...)
		os.Exit(2)
	}
	ca, err := os.ReadFile(*caFile)
	if err != nil {
		fail("%v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		fail("%s: no certificate", *caFile)
	}
	token, err := os.ReadFile(*tokenFile)
	if err != nil {
		fail("%v", err)
	}
	data, err := os.ReadFile(*file)
	if err != nil {
		fail("%v", err)
	}
	var objects [][2]string
	lines := bufio.NewScanner(bytes.NewReader(data))
	lines.Buffer(make([]byte, 1<<20), 1<<24)
	for lines.Scan() {
		path, body, ok := strings.Cut(lines.Text(), "\t")
		if !ok {
			fail("%s: a line without a tab", *file)
		}
		objects = append(objects, [2]string{path, body})
	}
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool},
		MaxIdleConnsPerHost: *concurrency,
		// HTTP/1.1, one connection per request in flight, as sync-once's client.
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{},
	}}
	auth := "Bearer " + strings.TrimSpace(string(token))
	jobs := make(chan [2]string)
	errs := make(chan error, len(objects))
	var wg sync.WaitGroup
	for w := 0; w < *concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for object := range jobs {
				url := *server + object[0] + "?fieldManager=bare-ssa&force=true&fieldValidation=Ignore"
				req, err := http.NewRequest(http.MethodPatch, url, strings.NewReader(object[1]))
				if err != nil {
					errs <- err
					continue
				}
				req.Header.Set("Content-Type", "application/apply-patch+yaml")
				req.Header.Set("Accept", "application/json")
				req.Header.Set("Authorization", auth)
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode >= 300 {
					errs <- fmt.Errorf("%s: %s", object[0], resp.Status)
				}
			}
		}()
	}
	for _, object := range objects {
		jobs <- object
	}
	close(jobs)
	wg.Wait()
	close(errs)
	for err := range errs {
		fail("%v", err)
	}
}
