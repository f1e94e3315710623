package e2e_test

import (
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/comp-dev/comp/internal/e2e"
	"github.com/comp-dev/comp/internal/testimage"
)

// idle keeps a container running and stops at once on SIGTERM.
const idle = `["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]`

// web serves testimage.IndexHTML on port 8080.
const web = `["sh", "-c", "trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait"]`

// networkScenarios need bridge networking: on the embedded runtime they run once it is listed in
// COMP_E2E_EMBEDDED_FEATURES. They join the one table through init.
var networkScenarios = []scenario{
	{
		name:  "networks isolate the services that share none",
		needs: []string{"bridge"},
		compose: `
services:
  front:
    image: ${REGISTRY}/busybox:latest
    command: ` + web + `
    networks: [one]
  back:
    image: ${REGISTRY}/busybox:latest
    command: ` + web + `
    networks: [two]
  both:
    image: ${REGISTRY}/busybox:latest
    command: ` + idle + `
    networks: [one, two]
networks:
  one: {}
  two: {}
`,
		run: func(t *testing.T, p *e2e.Project) {
			p.MustComp("up", "-d")
			for _, target := range []string{"front", "back"} {
				e2e.Eventually(t, 30*time.Second, 250*time.Millisecond, func() error {
					return fetch(p, "both", "http://"+target+":8080/")
				})
			}
			// front cannot reach back: not by name (its network's DNS does not know it) and not
			// by address.
			r := p.CompQuiet("exec", "-T", "front", "timeout", "3", "wget", "-qO-", "http://back:8080/")
			if r.ExitCode == 0 {
				t.Errorf("front reached back by name across networks:\n%s", r)
			}
			backIP := strings.TrimSpace(p.MustComp("exec", "-T", "back", "hostname", "-i").Stdout)
			if ip := net.ParseIP(strings.Fields(backIP + " x")[0]); ip == nil {
				t.Fatalf("back's address: %q", backIP)
			}
			r = p.CompQuiet("exec", "-T", "front", "timeout", "3", "wget", "-qO-", "http://"+strings.Fields(backIP)[0]+":8080/")
			if r.ExitCode == 0 {
				t.Errorf("front reached back at %s across networks:\n%s", backIP, r)
			}
		},
	},
	{
		name:  "aliases, links and scaled services resolve on the network",
		needs: []string{"bridge"},
		compose: `
services:
  api:
    image: ${REGISTRY}/busybox:latest
    command: ` + web + `
    scale: 2
    networks:
      default:
        aliases: [backend.local]
  client:
    image: ${REGISTRY}/busybox:latest
    command: ` + idle + `
    links: ["api:legacy"]
`,
		run: func(t *testing.T, p *e2e.Project) {
			p.MustComp("up", "-d")
			e2e.Eventually(t, 30*time.Second, 250*time.Millisecond, func() error {
				return fetch(p, "client", "http://backend.local:8080/")
			})
			e2e.Eventually(t, 30*time.Second, 250*time.Millisecond, func() error {
				return fetch(p, "client", "http://legacy:8080/")
			})
			e2e.Eventually(t, 30*time.Second, 250*time.Millisecond, func() error {
				addrs := lookup(p, "client", "api")
				if len(addrs) != 2 {
					return fmt.Errorf("api resolves to %v, want its 2 replicas", addrs)
				}
				return nil
			})
		},
	},
	{
		name:  "a recreated container is found by name at its new address",
		needs: []string{"bridge"},
		compose: `
services:
  api:
    image: ${REGISTRY}/busybox:latest
    command: ` + web + `
    environment: {VERSION: "1"}
  client:
    image: ${REGISTRY}/busybox:latest
    command: ` + idle + `
`,
		run: func(t *testing.T, p *e2e.Project) {
			p.MustComp("up", "-d")
			e2e.Eventually(t, 30*time.Second, 250*time.Millisecond, func() error { return fetch(p, "client", "http://api:8080/") })
			p.Write(strings.Replace(p.Compose(), `VERSION: "1"`, `VERSION: "2"`, 1))
			p.MustComp("up", "-d")
			newIP := strings.Fields(p.MustComp("exec", "-T", "api", "hostname", "-i").Stdout)
			if len(newIP) == 0 {
				t.Fatal("no address for the new api")
			}
			e2e.Eventually(t, 30*time.Second, 250*time.Millisecond, func() error {
				if got := lookup(p, "client", "api"); !slices.Contains(got, newIP[0]) || len(got) != 1 {
					return fmt.Errorf("api resolves to %v, want only %s", got, newIP[0])
				}
				return fetch(p, "client", "http://api:8080/")
			})
		},
	},
	{
		name:  "publishes a UDP port on the host",
		needs: []string{"bridge"},
		compose: `
services:
  listener:
    image: ${REGISTRY}/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; udpecho 9999 & wait"]
    ports: ["127.0.0.1::9999/udp"]
`,
		run: func(t *testing.T, p *e2e.Project) {
			p.MustComp("up", "-d")
			addr := strings.TrimSpace(p.MustComp("port", "--protocol", "udp", "listener", "9999").Stdout)
			conn, err := net.Dial("udp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			e2e.Eventually(t, 30*time.Second, 250*time.Millisecond, func() error {
				conn.Write([]byte("hello over udp\n"))
				out := p.CompQuiet("logs", "--no-log-prefix", "listener").Stdout
				if !strings.Contains(out, "hello over udp") {
					return fmt.Errorf("the listener got %q", out)
				}
				return nil
			})
		},
	},
	{
		name:  "network_mode service: shares the other container's network",
		needs: []string{"bridge"},
		compose: `
services:
  web:
    image: ${REGISTRY}/busybox:latest
    command: ` + web + `
  sidecar:
    image: ${REGISTRY}/busybox:latest
    command: ` + idle + `
    network_mode: service:web
    depends_on: [web]
`,
		run: func(t *testing.T, p *e2e.Project) {
			p.MustComp("up", "-d")
			e2e.Eventually(t, 30*time.Second, 250*time.Millisecond, func() error {
				return fetch(p, "sidecar", "http://127.0.0.1:8080/")
			})
		},
	},
}

func init() { scenarios = append(scenarios, networkScenarios...) }

// fetch GETs url (busybox wget crashes with its own -T: timeout bounds it instead) from inside service's container and checks it is the test index page.
func fetch(p *e2e.Project, service, url string) error {
	r := p.CompQuiet("exec", "-T", service, "timeout", "5", "wget", "-qO-", url)
	if r.ExitCode != 0 {
		return fmt.Errorf("%s", r)
	}
	if r.Stdout != testimage.IndexHTML {
		return fmt.Errorf("%s: got %q, want the index page", url, r.Stdout)
	}
	return nil
}

var addressLine = regexp.MustCompile(`(?m)^Address(?: \d+)?:\s+(\d+\.\d+\.\d+\.\d+)`)

// lookup resolves name with nslookup from inside service's container, through the container's
// own resolver configuration, and returns the IPv4 addresses of the answer.
func lookup(p *e2e.Project, service, name string) []string {
	r := p.CompQuiet("exec", "-T", service, "nslookup", name)
	out := r.Stdout
	// The first Address line is the DNS server's.
	if i := strings.Index(out, "Name:"); i >= 0 {
		out = out[i:]
	} else {
		return nil
	}
	var addrs []string
	for _, m := range addressLine.FindAllStringSubmatch(out, -1) {
		addrs = append(addrs, m[1])
	}
	return addrs
}
