package reconcile

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/comp-dev/comp/planner"
	"github.com/comp-dev/comp/runtime"
)

// CheckPorts fails when a fixed host port that a new container publishes is already taken on
// the host, so `up` stops before creating anything rather than half-way with an engine error.
// Containers being recreated or kept hold their own ports and are not checked.
func CheckPorts(plan *planner.Plan) error {
	for _, st := range plan.Steps {
		if st.Action != planner.CreateContainer || st.Spec == nil {
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

// CheckSupported asks rt, when it is a runtime.SpecChecker, about every container and network
// plan would create, so that one it cannot make stops `up` before anything is created rather
// than half-way.
func CheckSupported(plan *planner.Plan, rt runtime.Runtime) error {
	checker, ok := rt.(runtime.SpecChecker)
	if !ok {
		return nil
	}
	for _, st := range plan.Steps {
		switch {
		case st.NetworkSpec != nil && st.Action == planner.CreateNetwork:
			if err := checker.CheckNetworkSpec(*st.NetworkSpec); err != nil {
				return err
			}
		case st.Spec != nil && (st.Action == planner.CreateContainer || st.Action == planner.RecreateContainer):
			if err := checker.CheckContainerSpec(*st.Spec); err != nil {
				return fmt.Errorf("service %q: %w", st.Service, err)
			}
		}
	}
	return nil
}
