package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// Eventually calls cond every interval until it returns nil, and fails t with cond's last error
// if that has not happened within timeout. Tests wait on conditions this way, never with fixed
// sleeps.
func Eventually(t testing.TB, timeout, interval time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %v", timeout, err)
		}
		time.Sleep(interval)
	}
}

// HTTPGet fetches http://hostPort/path from the test process and returns the body of a
// 200 response. An unspecified host ("0.0.0.0", "::", "") means 127.0.0.1; any other host
// than a loopback address is refused, so tests never send traffic off the machine.
func HTTPGet(hostPort, path string) (string, error) {
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		return "", fmt.Errorf("GET %s: %w", hostPort, err)
	}
	ip := net.ParseIP(host)
	switch {
	case host == "" || (ip != nil && ip.IsUnspecified()):
		host = "127.0.0.1"
	case ip == nil || !ip.IsLoopback():
		return "", fmt.Errorf("GET %s: refusing a host that is not a loopback address", hostPort)
	}
	url := "http://" + net.JoinHostPort(host, port) + path
	client := http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("GET %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return string(body), fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(body), nil
}
