package supervisor

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/comp-dev/comp/runtime"
	"github.com/comp-dev/comp/runtime/embedded/dns"
	"github.com/comp-dev/comp/runtime/embedded/network"
	"github.com/comp-dev/comp/runtime/embedded/state"
)

// netsetup is what a running container holds of the network: its namespace, its endpoints and
// the proxy of its published ports. It is undone when the container stops.
type netsetup struct {
	netns string
	proxy *network.Proxy
}

// bridged says whether the container joins comp's bridge networks.
func bridged(spec runtime.ContainerSpec) bool {
	return spec.NetworkMode == (runtime.Namespace{}) && len(spec.Networks) > 0
}

// connect gives the container its network namespace on its networks (the first one, the
// highest priority, carries the default route), publishes its ports, makes sure each network's
// DNS server runs, and records the endpoints. It returns the namespace path for the container
// and the nameserver for its resolv.conf.
func (s *Supervisor) connect(rec *state.Record) (*netsetup, string, error) {
	ns := &netsetup{netns: filepath.Join(s.layout.Run, "netns", rec.ID)}
	if err := os.MkdirAll(filepath.Dir(ns.netns), 0o700); err != nil {
		return nil, "", err
	}
	_ = network.DeleteNetns(ns.netns) // a leftover of a crash
	if err := network.NewNetns(ns.netns); err != nil {
		return nil, "", fmt.Errorf("network namespace: %w", err)
	}
	rec.Endpoints = nil
	nameserver := ""
	var primary netip.Addr
	for i, att := range rec.Spec.Networks {
		info, err := s.nets.Get(att.Network)
		if err != nil {
			s.disconnect(rec, ns)
			return nil, "", fmt.Errorf("network %s: %w", att.Network, err)
		}
		ep, err := s.nets.Attach(att.Network, rec.ID, ns.netns, network.AttachRequest{
			IPv4: att.IPv4Address, MAC: att.MacAddress, IfName: fmt.Sprintf("eth%d", i),
			DefaultRoute: i == 0 && !info.Internal,
		})
		if err != nil {
			s.disconnect(rec, ns)
			return nil, "", fmt.Errorf("connect to network %s: %w", att.Network, err)
		}
		aliases := append([]string{rec.Name}, att.Aliases...)
		if rec.Spec.Hostname != "" {
			aliases = append(aliases, rec.Spec.Hostname)
		}
		rec.Endpoints = append(rec.Endpoints, state.Endpoint{Network: att.Network, IP: ep.IP.String(), MAC: ep.MAC,
			Gateway: info.Gateway.String(), Aliases: aliases})
		if i == 0 {
			primary = ep.IP
			nameserver = info.Gateway.String()
		}
		s.serveDNS(info)
	}
	if len(rec.Spec.Ports) > 0 {
		proxy, ports, err := network.Publish(rec.Spec.Ports, primary)
		if err != nil {
			s.disconnect(rec, ns)
			return nil, "", err
		}
		ns.proxy, rec.Ports = proxy, ports
	}
	return ns, nameserver, nil
}

// disconnect undoes connect for rec, whose endpoints it reads and leaves as they are: a caller
// that holds an entry's record clears them there first (see watch). It is safe on a half-made
// setup.
func (s *Supervisor) disconnect(rec *state.Record, ns *netsetup) {
	if ns == nil {
		return
	}
	if ns.proxy != nil {
		ns.proxy.Close()
	}
	for _, att := range rec.Spec.Networks {
		if err := s.nets.Detach(att.Network, rec.ID); err != nil {
			s.logger.Printf("detach %s from %s: %v", rec.Name, att.Network, err)
		}
	}
	if err := network.DeleteNetns(ns.netns); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.logger.Printf("delete network namespace of %s: %v", rec.Name, err)
	}
	for _, ep := range rec.Endpoints {
		s.stopDNSIfUnused(ep.Network, rec.ID)
	}
}

// stopDNSIfUnused closes network's DNS server once none of this supervisor's running
// containers but except is on it: the network may be removed, and its address reused by
// another network whose own server must be able to bind it.
func (s *Supervisor) stopDNSIfUnused(netName, except string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	srv, ok := s.dns[netName]
	if !ok {
		return
	}
	for id, e := range s.entries {
		if id == except || e.c == nil {
			continue
		}
		for _, ep := range e.rec.Endpoints {
			if ep.Network == netName {
				return
			}
		}
	}
	srv.Close()
	delete(s.dns, netName)
}

// serveDNS starts the DNS server of a network on its gateway unless one runs (this supervisor's
// or, for a network shared between projects, another's).
func (s *Supervisor) serveDNS(info network.Info) {
	s.mu.Lock()
	_, running := s.dns[info.Name]
	s.mu.Unlock()
	if running {
		return
	}
	name := info.Name
	var srv *dns.Server
	var err error
	// A supervisor that served an earlier network on this address may be closing its server:
	// give it a moment rather than leave this network without names.
	for wait := 10 * time.Millisecond; wait < 2*time.Second; wait *= 2 {
		srv, err = dns.Start(net.JoinHostPort(info.Gateway.String(), "53"), func(q string) []netip.Addr {
			return s.resolve(name, q, netip.Addr{})
		}, dns.Upstreams("/etc/resolv.conf"), dns.WithClientResolver(func(q string, client netip.Addr) []netip.Addr {
			return s.resolve(name, q, client)
		}))
		if err == nil {
			break
		}
		time.Sleep(wait)
	}
	if err != nil {
		s.logger.Printf("dns for network %s: %v", name, err)
		return
	}
	s.mu.Lock()
	s.dns[name] = srv
	s.mu.Unlock()
}

// resolve answers the names of the running containers on the networks of the asking container
// (the client's address on netName tells which one; just netName when unknown), from their
// records: so a recreated, scaled or restarted container is found as soon as its record says so.
// A container is found at its address on a network it shares with the client.
func (s *Supervisor) resolve(netName, q string, client netip.Addr) []netip.Addr {
	q = strings.ToLower(strings.TrimSuffix(q, "."))
	records, err := s.layout.Records()
	if err != nil {
		return nil
	}
	networks := map[string]bool{netName: true}
	if client.IsValid() {
		for _, rec := range records {
			for _, ep := range rec.Endpoints {
				if ep.Network == netName && ep.IP == client.String() {
					for _, other := range rec.Endpoints {
						networks[other.Network] = true
					}
					// links: "service:alias" lets this container call service by alias.
					for _, l := range rec.Spec.Links {
						if svc, alias, ok := strings.Cut(l, ":"); ok && strings.EqualFold(alias, q) {
							q = strings.ToLower(svc)
						}
					}
				}
			}
		}
	}
	var out []netip.Addr
	for _, rec := range records {
		if rec.State != state.Running {
			continue
		}
		for _, ep := range rec.Endpoints {
			if !networks[ep.Network] {
				continue
			}
			names := append([]string{rec.Name, rec.Spec.Labels[runtime.LabelService]}, ep.Aliases...)
			for _, n := range names {
				if strings.ToLower(n) == q {
					if ip, err := netip.ParseAddr(ep.IP); err == nil {
						out = append(out, ip)
					}
					break
				}
			}
		}
	}
	return out
}
