// Command web is the quickstart's web service: it counts visits in a file on a named volume
// (so the count survives `comp down`), answers /healthz, and with -probe checks a running
// instance's health, which is how the image's healthcheck runs with no shell in the image.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	probe := flag.Bool("probe", false, "check the health of the web service on this host and exit")
	addr := flag.String("addr", ":8080", "address to listen on")
	data := flag.String("data", "/data", "folder that keeps the visit count")
	flag.Parse()
	if *probe {
		os.Exit(check("http://127.0.0.1" + *addr + "/healthz"))
	}
	counter := &visits{path: filepath.Join(*data, "visits")}
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		n, err := counter.add()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		log.Printf("visit %d from %s", n, r.RemoteAddr)
		fmt.Fprintf(w, "Hello from comp's quickstart: visit number %d\n", n)
	})
	log.Printf("listening on %s, counting visits in %s", *addr, counter.path)
	log.Fatal(http.ListenAndServe(*addr, nil))
}

// check returns 0 when url answers 200.
func check(url string) int {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 1
	}
	return 0
}

// visits is a counter kept in a file.
type visits struct {
	mu   sync.Mutex
	path string
}

func (v *visits) add() (int, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := 0
	if b, err := os.ReadFile(v.path); err == nil {
		n, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	n++
	tmp := v.path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(n)), 0o644); err != nil {
		return 0, err
	}
	return n, os.Rename(tmp, v.path)
}
