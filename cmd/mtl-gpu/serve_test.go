package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// server is a running `mtl-gpu serve` and what it logged.
type server struct {
	cmd    *exec.Cmd
	url    string
	exited chan struct{}
	mu     sync.Mutex
	log    strings.Builder
}

// logged waits up to 10 s for a log line containing s.
func (s *server) logged(t *testing.T, substr string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		s.mu.Lock()
		found := strings.Contains(s.log.String(), substr)
		s.mu.Unlock()
		if found {
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t.Fatalf("no %q in the log:\n%s", substr, s.log.String())
}

// startServer runs mtl-gpu serve on a free loopback port.
func startServer(t *testing.T, dir, model string) *server {
	t.Helper()
	s := &server{cmd: exec.Command(binary, "serve", "--model", model, "--addr", "127.0.0.1:0", "--device", "cpu"), exited: make(chan struct{})}
	s.cmd.Dir = dir
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			s.mu.Lock()
			s.log.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
			if m := regexp.MustCompile(`msg=serving addr=(\S+)`).FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
		s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		<-s.exited
	})
	select {
	case a := <-addr:
		s.url = "http://" + a
	case <-s.exited:
		t.Fatalf("serve exited:\n%s", s.log.String())
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not say where it listens")
	}
	if !strings.HasPrefix(s.url, "http://127.0.0.1:") {
		t.Errorf("serve listens on %s, not loopback", s.url)
	}
	return s
}

// tasks returns the task names that /v1/model lists.
func (s *server) tasks(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(s.url + "/v1/model")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d struct{ Tasks []struct{ Name string } }
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, task := range d.Tasks {
		names = append(names, task.Name)
	}
	return strings.Join(names, ",")
}

// emotionsRequest is a /v1/predict body with the first emotions test row.
func emotionsRequest(t *testing.T) string {
	t.Helper()
	f, err := os.Open(sharedFile(t, "emotions/emotions_test.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	header, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	row, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	obj := map[string]json.Number{}
	for i, h := range header {
		obj[h] = json.Number(row[i])
	}
	b, _ := json.Marshal([]any{obj})
	return string(b)
}

func copyModel(t *testing.T, dir, from, to string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, from))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, to), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestServeReloadAndShutdown runs the binary: SIGHUP swaps in a new model
// file, and a corrupt one leaves the model serving; SIGTERM waits for a
// request whose body is still arriving, answers it, and exits 0.
func TestServeReloadAndShutdown(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	train := func(task, out string) {
		ok(t, mtlgpu(t, dir, "train", "--quiet", "--data", sharedFile(t, "emotions/emotions_train.csv"), "--task", task+":binary", "--out", out, "--epochs", "1"))
	}
	train("happy-pleased", "a.mtl")
	train("sad-lonely", "b.mtl")
	copyModel(t, dir, "a.mtl", "served.mtl")
	s := startServer(t, dir, "served.mtl")
	if got := s.tasks(t); got != "happy-pleased" {
		t.Fatalf("serving tasks %q", got)
	}

	copyModel(t, dir, "b.mtl", "served.mtl")
	s.cmd.Process.Signal(syscall.SIGHUP)
	s.logged(t, "model reloaded")
	if got := s.tasks(t); got != "sad-lonely" {
		t.Errorf("after SIGHUP: tasks %q", got)
	}
	if err := os.WriteFile(filepath.Join(dir, "served.mtl"), []byte("MTLGPU\r\ntruncated"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.cmd.Process.Signal(syscall.SIGHUP)
	s.logged(t, "reload failed; serving the previous model")
	if got := s.tasks(t); got != "sad-lonely" {
		t.Errorf("after a failed reload: tasks %q", got)
	}

	// A request in flight: headers and half the body sent before SIGTERM.
	body := emotionsRequest(t)
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/predict HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body[:len(body)/2])
	time.Sleep(200 * time.Millisecond)
	s.cmd.Process.Signal(syscall.SIGTERM)
	s.logged(t, "shutting down")
	time.Sleep(300 * time.Millisecond)
	select {
	case <-s.exited:
		t.Fatal("serve exited with a request in flight")
	default:
	}
	if _, err := io.WriteString(conn, body[len(body)/2:]); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("the request in flight got no answer: %v", err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(answer), `"sad-lonely:p(1)":`) {
		t.Errorf("the request in flight: %d %s", resp.StatusCode, answer)
	}
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not exit after SIGTERM")
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit status %d after SIGTERM\n%s", code, s.log.String())
	}
}
