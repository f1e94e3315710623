// Package dns is the embedded runtime's name server: one per bridge network, listening on the
// network's gateway, it answers the names of the containers on that network and forwards every
// other query to the host's name servers, like Docker's embedded DNS.
package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	miekg "github.com/miekg/dns"
)

// DefaultTimeout is how long a forwarded query waits for each upstream server.
const DefaultTimeout = 2 * time.Second

// closeTimeout bounds how long Close waits for queries in flight.
const closeTimeout = 5 * time.Second

// ednsSize is the UDP payload size the server advertises in its own answers (the DNS flag day
// 2020 value, safe from fragmentation).
const ednsSize = 1232

// Resolver answers which addresses a name has on the network (service names, container names,
// container_name, hostnames, aliases, links). Called per query: the answer follows containers
// that are recreated, scaled or restarted. The name is in lower case and has no trailing dot, so
// the resolver should compare names case-insensitively; nil means the network does not know it.
type Resolver func(name string) []netip.Addr

// Reverser answers the name of the container that has addr on the network, or "" when none has.
type Reverser func(addr netip.Addr) string

// Option changes how a Server started by Start behaves.
type Option func(*Server)

// WithReverse answers PTR queries for container addresses with the name reverse gives; without
// it, or when it gives "", PTR queries are forwarded like any other.
func WithReverse(reverse Reverser) Option {
	return func(s *Server) { s.reverse = reverse }
}

// WithSearch names the network's search domains: a query for "web.<domain>" that the resolver
// does not know as such is tried as "web" too.
func WithSearch(domains ...string) Option {
	return func(s *Server) {
		for _, d := range domains {
			d = strings.ToLower(strings.Trim(d, "."))
			if d != "" {
				s.search = append(s.search, d)
			}
		}
	}
}

// WithTimeout sets how long a forwarded query waits for each upstream server (DefaultTimeout
// otherwise).
func WithTimeout(d time.Duration) Option {
	return func(s *Server) {
		if d > 0 {
			s.timeout = d
		}
	}
}

// Server is a running name server, listening on UDP and TCP at the same address.
type Server struct {
	resolve Resolver
	// resolveFrom, when set, is asked instead of resolve, with the client's address.
	resolveFrom ClientResolver
	reverse     Reverser
	search      []string
	upstreams   []string // host:port
	timeout     time.Duration

	rotation atomic.Uint64 // advances on each answer with several addresses

	addr    string
	udp     *miekg.Server
	tcp     *miekg.Server
	udpDone <-chan error // receives when the UDP server has let go of its socket
	tcpDone <-chan error
	ctx     context.Context // cancelled by Close, ends forwards in flight
	cancel  context.CancelFunc

	closeOnce sync.Once
	closeErr  error
}

// Start serves DNS on addr ("172.18.0.1:53"; tests use "127.0.0.1:0"), over UDP and TCP on the
// same port. A queries for names the resolver knows get all their addresses, in an order rotated
// per query (a scaled service resolves to every replica), with TTL 0; AAAA queries get the IPv6
// ones, an empty NOERROR answer when there are none, and other types of a known name get an
// empty NOERROR answer too. Names are case-insensitive, the trailing dot optional, and a name
// under a search domain (WithSearch) is tried without it. Every other query is forwarded to the
// upstreams ("10.0.0.2" or "10.0.0.2:53"; loopback ones work since the server runs on the host)
// in order, over the transport it came in on, each with a timeout (WithTimeout); SERVFAIL if
// none answers. PTR queries for container addresses are answered with WithReverse.
func Start(addr string, resolve Resolver, upstreams []string, opts ...Option) (*Server, error) {
	if resolve == nil {
		return nil, fmt.Errorf("start dns server on %s: no resolver", addr)
	}
	s := &Server{resolve: resolve, timeout: DefaultTimeout}
	for _, opt := range opts {
		opt(s)
	}
	for _, u := range upstreams {
		hp, err := upstreamAddr(u)
		if err != nil {
			return nil, fmt.Errorf("start dns server on %s: %w", addr, err)
		}
		s.upstreams = append(s.upstreams, hp)
	}

	pc, ln, err := listen(addr)
	if err != nil {
		return nil, fmt.Errorf("start dns server on %s: %w", addr, err)
	}
	s.addr = ln.Addr().String()
	// Forwarding to ourselves would loop until the timeout.
	s.upstreams = removeAddr(s.upstreams, s.addr)
	s.ctx, s.cancel = context.WithCancel(context.Background())

	handler := miekg.HandlerFunc(s.serve)
	s.udp = &miekg.Server{PacketConn: pc, Handler: handler}
	s.tcp = &miekg.Server{Listener: ln, Handler: handler}
	if s.udpDone, err = activate(s.udp); err != nil {
		s.cancel()
		pc.Close()
		ln.Close()
		return nil, fmt.Errorf("start dns server on %s: %w", addr, err)
	}
	if s.tcpDone, err = activate(s.tcp); err != nil {
		s.cancel()
		s.udp.Shutdown()
		<-s.udpDone
		ln.Close()
		return nil, fmt.Errorf("start dns server on %s: %w", addr, err)
	}
	return s, nil
}

// Addr returns the address the server is bound to, with the port chosen for ":0".
func (s *Server) Addr() string { return s.addr }

// Close stops the server: queries in flight are answered or abandoned, and the UDP and TCP ports
// are released when it returns. Closing twice returns the first result.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		errUDP := s.udp.ShutdownContext(ctx)
		errTCP := s.tcp.ShutdownContext(ctx)
		// The serving goroutines close the sockets too, and a Close that loses that race
		// returns before the port is free: wait for them.
		for _, done := range []<-chan error{s.udpDone, s.tcpDone} {
			select {
			case <-done:
			case <-ctx.Done():
			}
		}
		if err := errors.Join(errUDP, errTCP); err != nil {
			s.closeErr = fmt.Errorf("close dns server on %s: %w", s.addr, err)
		}
	})
	return s.closeErr
}

// serve answers one query: from the network's names when it can, from the upstreams otherwise.
func (s *Server) serve(w miekg.ResponseWriter, req *miekg.Msg) {
	var resp *miekg.Msg
	switch {
	case req.Response || req.Opcode != miekg.OpcodeQuery:
		resp = new(miekg.Msg).SetRcode(req, miekg.RcodeNotImplemented)
	case len(req.Question) != 1:
		resp = new(miekg.Msg).SetRcode(req, miekg.RcodeFormatError)
	default:
		if resp = s.answer(req, clientAddr(w)); resp == nil {
			resp = s.forward(w.LocalAddr().Network(), req)
		}
	}
	if w.LocalAddr().Network() == "udp" {
		size := miekg.MinMsgSize
		if opt := req.IsEdns0(); opt != nil {
			size = int(opt.UDPSize())
		}
		resp.Truncate(size)
	}
	_ = w.WriteMsg(resp) // the client is gone; nothing to tell anyone
}

// answer builds the reply for a name the network knows, or returns nil to forward the query.
func (s *Server) answer(req *miekg.Msg, client netip.Addr) *miekg.Msg {
	q := req.Question[0]
	if q.Qclass != miekg.ClassINET {
		return nil
	}
	name := strings.ToLower(strings.TrimSuffix(q.Name, "."))

	var answer []miekg.RR
	if q.Qtype == miekg.TypePTR {
		addr, ok := reverseAddr(name)
		if !ok || s.reverse == nil {
			return nil
		}
		target := s.reverse(addr)
		if target == "" {
			return nil
		}
		answer = append(answer, &miekg.PTR{
			Hdr: miekg.RR_Header{Name: q.Name, Rrtype: miekg.TypePTR, Class: miekg.ClassINET},
			Ptr: miekg.Fqdn(target),
		})
	} else {
		addrs := s.lookup(name, client)
		if len(addrs) == 0 {
			return nil
		}
		for _, a := range s.rotate(family(addrs, q.Qtype)) {
			hdr := miekg.RR_Header{Name: q.Name, Rrtype: q.Qtype, Class: miekg.ClassINET}
			if q.Qtype == miekg.TypeA {
				answer = append(answer, &miekg.A{Hdr: hdr, A: a.AsSlice()})
			} else {
				answer = append(answer, &miekg.AAAA{Hdr: hdr, AAAA: a.AsSlice()})
			}
		}
	}

	resp := new(miekg.Msg).SetReply(req)
	resp.Authoritative = true
	resp.RecursionAvailable = true
	resp.Compress = true
	resp.Answer = answer
	if opt := req.IsEdns0(); opt != nil {
		resp.SetEdns0(ednsSize, false)
	}
	return resp
}

// lookup asks the resolver for name, then for name without each search domain.
func (s *Server) lookup(name string, client netip.Addr) []netip.Addr {
	if name == "" {
		return nil
	}
	if addrs := s.resolveName(name, client); len(addrs) > 0 {
		return addrs
	}
	for _, d := range s.search {
		if short, ok := strings.CutSuffix(name, "."+d); ok && short != "" {
			if addrs := s.resolveName(short, client); len(addrs) > 0 {
				return addrs
			}
		}
	}
	return nil
}

// resolveName asks the client-aware resolver when there is one, else the plain one.
func (s *Server) resolveName(name string, client netip.Addr) []netip.Addr {
	if s.resolveFrom != nil {
		return s.resolveFrom(name, client)
	}
	return s.resolve(name)
}

// clientAddr is the address a query came from (invalid when unknown).
func clientAddr(w miekg.ResponseWriter) netip.Addr {
	if ap, err := netip.ParseAddrPort(w.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// ClientResolver is a Resolver that also knows which address asks: a container on several
// networks resolves the names of all of them through the DNS of its first network, as on Docker.
type ClientResolver func(name string, client netip.Addr) []netip.Addr

// WithClientResolver answers names with r instead of the Start's Resolver.
func WithClientResolver(r ClientResolver) Option {
	return func(s *Server) { s.resolveFrom = r }
}

// family keeps the addresses a query of type qtype answers with: IPv4 for A, IPv6 for AAAA,
// none for any other type (the name exists, with no records of that type).
func family(addrs []netip.Addr, qtype uint16) []netip.Addr {
	var out []netip.Addr
	for _, a := range addrs {
		a = a.Unmap()
		if (qtype == miekg.TypeA && a.Is4()) || (qtype == miekg.TypeAAAA && a.Is6()) {
			out = append(out, a)
		}
	}
	return out
}

// rotate starts addrs one further along at each call, so that clients that take the first
// address spread over the replicas.
func (s *Server) rotate(addrs []netip.Addr) []netip.Addr {
	if len(addrs) < 2 {
		return addrs
	}
	k := int(s.rotation.Add(1) % uint64(len(addrs)))
	return append(addrs[k:len(addrs):len(addrs)], addrs[:k]...)
}

// forward asks the upstreams in turn over network ("udp" or "tcp"), and returns the first
// answer that is not SERVFAIL or REFUSED, the last such one if that is all there is, or SERVFAIL.
func (s *Server) forward(network string, req *miekg.Msg) *miekg.Msg {
	client := &miekg.Client{Net: network, Timeout: s.timeout}
	out := req.Copy()
	out.Id = miekg.Id() // a fresh ID per hop, as a recursive server would
	var last *miekg.Msg
	for _, up := range s.upstreams {
		ctx, cancel := context.WithTimeout(s.ctx, s.timeout)
		resp, _, err := client.ExchangeContext(ctx, out, up)
		cancel()
		if err != nil || resp == nil {
			continue
		}
		resp.Id = req.Id
		if resp.Rcode == miekg.RcodeServerFailure || resp.Rcode == miekg.RcodeRefused {
			last = resp
			continue
		}
		return resp
	}
	if last != nil {
		return last
	}
	resp := new(miekg.Msg).SetRcode(req, miekg.RcodeServerFailure)
	resp.RecursionAvailable = true
	return resp
}

// activate starts srv on its listener or packet conn and returns once it serves; served
// receives what ActivateAndServe returned, once it has closed its socket.
func activate(srv *miekg.Server) (served <-chan error, err error) {
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	done := make(chan error, 1)
	go func() { done <- srv.ActivateAndServe() }()
	select {
	case <-started:
		return done, nil
	case err := <-done:
		return nil, err
	}
}

// listen binds UDP and TCP on the same address; for port 0, on the same port chosen for TCP.
func listen(addr string) (net.PacketConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, err
	}
	tries := 1
	if port == "0" {
		tries = 20 // the port the kernel picked for TCP may be taken for UDP
	}
	for i := 0; ; i++ {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, nil, err
		}
		_, bound, _ := net.SplitHostPort(ln.Addr().String())
		pc, err := net.ListenPacket("udp", net.JoinHostPort(host, bound))
		if err == nil {
			return pc, ln, nil
		}
		ln.Close()
		if i+1 >= tries {
			return nil, nil, err
		}
	}
}

// upstreamAddr turns "10.0.0.2", "10.0.0.2:53", "fe80::1%eth0" or "[::1]:53" into host:port.
func upstreamAddr(s string) (string, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.String(), nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPortFrom(a, 53).String(), nil
	}
	return "", fmt.Errorf("upstream %q: want an IP address, optionally with a port", s)
}

// removeAddr returns addrs without self.
func removeAddr(addrs []string, self string) []string {
	ap, err := netip.ParseAddrPort(self)
	if err != nil {
		return addrs
	}
	var out []string
	for _, a := range addrs {
		if u, err := netip.ParseAddrPort(a); err == nil && u.Addr().Unmap() == ap.Addr().Unmap() && u.Port() == ap.Port() {
			continue
		}
		out = append(out, a)
	}
	return out
}
