// Command worker is the quickstart's background worker: every few seconds it visits the web
// service by its service name (resolved by the runtime's DNS) and logs what it answered.
package main

import (
	"io"
	"log"
	"net/http"
	"os"
	"strings"
	"time"
)

func main() {
	target := os.Getenv("TARGET")
	if target == "" {
		target = "http://web:8080/"
	}
	every := 3 * time.Second
	if d, err := time.ParseDuration(os.Getenv("EVERY")); err == nil {
		every = d
	}
	c := http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := c.Get(target)
		if err != nil {
			log.Printf("visit %s: %v", target, err)
		} else {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			log.Printf("%s said: %s", target, strings.TrimSpace(string(body)))
		}
		time.Sleep(every)
	}
}
