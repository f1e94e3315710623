package reconcile

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/comp-dev/comp/planner"
)

// CheckPorts fails when a fixed host port that a new container publishes is already taken on
// the host, so `up` stops before creating anything rather than half-way with an engine error.
// Containers being recreated or kept hold their own ports and are not checked.
func CheckPorts(plan *planner.Plan) error {
	for _, st := range plan.Steps {
		// A container being recreated takes over the ports of the one it replaces, which
		// holds them until it is stopped.
		if st.Action != planner.CreateContainer || st.Spec == nil || st.Recreating {
			continue
		}
		for _, p := range st.Spec.Ports {
			if p.HostPort == "" || strings.Contains(p.HostPort, "-") {
				continue // random or a range: the engine picks a free one
			}
			port, err := strconv.Atoi(p.HostPort)
			if err != nil || port == 0 {
				continue
			}
			host := p.HostIP
			if host == "" {
				host = "0.0.0.0"
			}
			addr := net.JoinHostPort(host, p.HostPort)
			if err := probe(p.Protocol, addr); err != nil {
				return fmt.Errorf("service %q: port %s/%s is already in use on the host (services.%s.ports): "+
					"stop what uses it or publish another host port", st.Service, addr, p.Protocol, st.Service)
			}
		}
	}
	return nil
}

// probe binds addr briefly to see whether it is free.
func probe(proto, addr string) error {
	if proto == "udp" {
		c, err := net.ListenPacket("udp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return l.Close()
}
