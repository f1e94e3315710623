package dns

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	miekg "github.com/miekg/dns"
)

// names is a network's names, changed by the test while the server runs.
type names struct {
	mu    sync.Mutex
	addrs map[string][]netip.Addr
	asked []string
}

func newNames() *names { return &names{addrs: map[string][]netip.Addr{}} }

func (n *names) set(name string, addrs ...string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var as []netip.Addr
	for _, a := range addrs {
		as = append(as, netip.MustParseAddr(a))
	}
	n.addrs[name] = as
}

func (n *names) resolve(name string) []netip.Addr {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.asked = append(n.asked, name)
	return slices.Clone(n.addrs[name])
}

// start runs a server on a free loopback port, closed when the test ends.
func start(t *testing.T, resolve Resolver, upstreams []string, opts ...Option) *Server {
	t.Helper()
	s, err := Start("127.0.0.1:0", resolve, upstreams, opts...)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// query asks server one question over network ("udp" or "tcp").
func query(t *testing.T, network, server, name string, qtype uint16) *miekg.Msg {
	t.Helper()
	resp, err := exchange(network, server, name, qtype)
	if err != nil {
		t.Fatalf("query %s %s over %s: %v", miekg.TypeToString[qtype], name, network, err)
	}
	return resp
}

func exchange(network, server, name string, qtype uint16) (*miekg.Msg, error) {
	req := new(miekg.Msg).SetQuestion(name, qtype)
	c := &miekg.Client{Net: network, Timeout: 5 * time.Second}
	resp, _, err := c.Exchange(req, server)
	return resp, err
}

// addrs returns the addresses of the A and AAAA records of resp, in order.
func addrs(resp *miekg.Msg) []string {
	var out []string
	for _, rr := range resp.Answer {
		switch rr := rr.(type) {
		case *miekg.A:
			out = append(out, rr.A.String())
		case *miekg.AAAA:
			out = append(out, rr.AAAA.String())
		}
	}
	return out
}

// upstream is a fake upstream name server on loopback that answers every A query with
// 203.0.113.7 and remembers over which transports it was asked.
type upstream struct {
	addr string
	mu   sync.Mutex
	nets []string
}

func startUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{}
	pc, ln, err := listen("127.0.0.1:0")
	if err != nil {
		t.Fatalf("fake upstream: %v", err)
	}
	u.addr = ln.Addr().String()
	handler := miekg.HandlerFunc(func(w miekg.ResponseWriter, req *miekg.Msg) {
		u.mu.Lock()
		u.nets = append(u.nets, w.LocalAddr().Network())
		u.mu.Unlock()
		resp := new(miekg.Msg).SetReply(req)
		q := req.Question[0]
		if q.Qtype == miekg.TypeA {
			resp.Answer = append(resp.Answer, &miekg.A{
				Hdr: miekg.RR_Header{Name: q.Name, Rrtype: miekg.TypeA, Class: miekg.ClassINET, Ttl: 300},
				A:   net.IPv4(203, 0, 113, 7),
			})
		}
		w.WriteMsg(resp)
	})
	for _, srv := range []*miekg.Server{{PacketConn: pc, Handler: handler}, {Listener: ln, Handler: handler}} {
		served, err := activate(srv)
		if err != nil {
			t.Fatalf("fake upstream: %v", err)
		}
		t.Cleanup(func() { srv.Shutdown(); <-served })
	}
	return u
}

func (u *upstream) transports() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.nets)
}

// silentUpstream is an upstream that takes queries over UDP and TCP and never answers.
func silentUpstream(t *testing.T) string {
	t.Helper()
	pc, ln, err := listen("127.0.0.1:0")
	if err != nil {
		t.Fatalf("silent upstream: %v", err)
	}
	t.Cleanup(func() { pc.Close(); ln.Close() })
	return ln.Addr().String()
}

func TestAnswersNamesOnTheNetwork(t *testing.T) {
	n := newNames()
	n.set("web", "10.0.0.2")
	n.set("api", "10.0.0.3", "10.0.0.4", "10.0.0.5")
	n.set("dual", "10.0.0.6", "fd00::6")
	up := startUpstream(t)
	s := start(t, n.resolve, []string{up.addr}, WithSearch("corp.example."))

	tests := []struct {
		name  string
		query string
		qtype uint16
		want  []string
	}{
		{"a container with one address", "web.", miekg.TypeA, []string{"10.0.0.2"}},
		{"every replica of a scaled service", "api.", miekg.TypeA, []string{"10.0.0.3", "10.0.0.4", "10.0.0.5"}},
		{"names are case-insensitive", "WeB.", miekg.TypeA, []string{"10.0.0.2"}},
		{"a name under the search domain", "web.corp.example.", miekg.TypeA, []string{"10.0.0.2"}},
		{"A gives only the IPv4 addresses", "dual.", miekg.TypeA, []string{"10.0.0.6"}},
		{"AAAA gives the IPv6 addresses", "dual.", miekg.TypeAAAA, []string{"fd00::6"}},
		{"AAAA of a name with no IPv6 address is empty", "web.", miekg.TypeAAAA, nil},
		{"other types of a known name are empty", "web.", miekg.TypeMX, nil},
	}
	for _, tt := range tests {
		for _, network := range []string{"udp", "tcp"} {
			t.Run(tt.name+" over "+network, func(t *testing.T) {
				resp := query(t, network, s.Addr(), tt.query, tt.qtype)
				if resp.Rcode != miekg.RcodeSuccess {
					t.Fatalf("rcode = %s, want NOERROR", miekg.RcodeToString[resp.Rcode])
				}
				got := addrs(resp)
				slices.Sort(got)
				if !slices.Equal(got, tt.want) {
					t.Errorf("addresses = %q, want %q", got, tt.want)
				}
				for _, rr := range resp.Answer {
					if rr.Header().Ttl != 0 {
						t.Errorf("TTL = %d, want 0 so that clients do not cache", rr.Header().Ttl)
					}
					if rr.Header().Name != tt.query {
						t.Errorf("answer for %q, want the name as asked, %q", rr.Header().Name, tt.query)
					}
				}
			})
		}
	}
	if got := up.transports(); len(got) != 0 {
		t.Errorf("known names were forwarded upstream (%d queries)", len(got))
	}
	for _, name := range n.asked {
		if name != "web" && name != "api" && name != "dual" && name != "web.corp.example" {
			t.Errorf("the resolver was asked %q, want lower case without the trailing dot", name)
		}
	}
}

func TestRotatesTheReplicasOfAScaledService(t *testing.T) {
	n := newNames()
	replicas := []string{"10.0.0.3", "10.0.0.4", "10.0.0.5"}
	n.set("api", replicas...)
	s := start(t, n.resolve, nil)

	firsts := map[string]bool{}
	for range len(replicas) {
		got := addrs(query(t, "udp", s.Addr(), "api.", miekg.TypeA))
		if len(got) != len(replicas) {
			t.Fatalf("addresses = %q, want all of %q", got, replicas)
		}
		// Each answer is the replicas in order, started somewhere along.
		k := slices.Index(replicas, got[0])
		if rotated := append(slices.Clone(replicas[k:]), replicas[:k]...); !slices.Equal(got, rotated) {
			t.Errorf("addresses = %q, want a rotation of %q", got, replicas)
		}
		firsts[got[0]] = true
	}
	if len(firsts) != len(replicas) {
		t.Errorf("first addresses over %d queries = %v, want each replica first once", len(replicas), firsts)
	}
}

func TestAnswersFollowTheResolver(t *testing.T) {
	n := newNames()
	s := start(t, n.resolve, nil)

	steps := []struct {
		name  string
		addrs []string
	}{
		{"created", []string{"10.0.0.2"}},
		{"recreated with a new address", []string{"10.0.0.9"}},
		{"scaled up", []string{"10.0.0.9", "10.0.0.10"}},
	}
	for _, step := range steps {
		n.set("web", step.addrs...)
		got := addrs(query(t, "udp", s.Addr(), "web.", miekg.TypeA))
		slices.Sort(got)
		if want := slices.Sorted(slices.Values(step.addrs)); !slices.Equal(got, want) {
			t.Errorf("%s: addresses = %q, want %q", step.name, got, step.addrs)
		}
	}
}

func TestForwardsOtherNamesUpstreamOverTheSameTransport(t *testing.T) {
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			up := startUpstream(t)
			s := start(t, newNames().resolve, []string{up.addr})

			resp := query(t, network, s.Addr(), "example.org.", miekg.TypeA)
			if resp.Rcode != miekg.RcodeSuccess {
				t.Fatalf("rcode = %s, want NOERROR", miekg.RcodeToString[resp.Rcode])
			}
			if got := addrs(resp); !slices.Equal(got, []string{"203.0.113.7"}) {
				t.Errorf("addresses = %q, want the upstream's 203.0.113.7", got)
			}
			if got := up.transports(); !slices.Equal(got, []string{network}) {
				t.Errorf("upstream asked over %q, want [%s]", got, network)
			}
		})
	}
}

func TestForwardsToTheNextUpstreamWhenOneIsDown(t *testing.T) {
	up := startUpstream(t)
	s := start(t, newNames().resolve, []string{silentUpstream(t), up.addr}, WithTimeout(200*time.Millisecond))
	for _, network := range []string{"udp", "tcp"} {
		if got := addrs(query(t, network, s.Addr(), "example.org.", miekg.TypeA)); !slices.Equal(got, []string{"203.0.113.7"}) {
			t.Errorf("over %s: addresses = %q, want the second upstream's 203.0.113.7", network, got)
		}
	}
}

func TestServfailWhenNoUpstreamAnswers(t *testing.T) {
	const timeout = 300 * time.Millisecond
	refused := func(t *testing.T) string { // a port nobody listens on
		pc, ln, err := listen("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		pc.Close()
		ln.Close()
		return ln.Addr().String()
	}
	tests := []struct {
		name      string
		upstreams func(t *testing.T) []string
	}{
		{"an upstream that never answers", func(t *testing.T) []string { return []string{silentUpstream(t)} }},
		{"an upstream that refuses", func(t *testing.T) []string { return []string{refused(t)} }},
		{"no upstreams at all", func(t *testing.T) []string { return nil }},
	}
	for _, tt := range tests {
		for _, network := range []string{"udp", "tcp"} {
			t.Run(tt.name+" over "+network, func(t *testing.T) {
				s := start(t, newNames().resolve, tt.upstreams(t), WithTimeout(timeout))
				began := time.Now()
				resp := query(t, network, s.Addr(), "example.org.", miekg.TypeA)
				took := time.Since(began)
				if resp.Rcode != miekg.RcodeServerFailure {
					t.Errorf("rcode = %s, want SERVFAIL", miekg.RcodeToString[resp.Rcode])
				}
				// The client waits 5s; the answer has to come well before that.
				if took > timeout+2*time.Second {
					t.Errorf("SERVFAIL after %v, want it about the %v timeout", took, timeout)
				}
			})
		}
	}
}

func TestPTRAnswersTheContainerName(t *testing.T) {
	up := startUpstream(t)
	reverse := func(a netip.Addr) string {
		switch a {
		case netip.MustParseAddr("10.0.0.2"):
			return "project-web-1"
		case netip.MustParseAddr("fd00::6"):
			return "project-dual-1."
		}
		return ""
	}
	s := start(t, newNames().resolve, []string{up.addr}, WithReverse(reverse))

	tests := []struct {
		addr string
		want string
	}{
		{"10.0.0.2", "project-web-1."},
		{"fd00::6", "project-dual-1."},
	}
	for _, tt := range tests {
		arpa, err := miekg.ReverseAddr(tt.addr)
		if err != nil {
			t.Fatal(err)
		}
		resp := query(t, "udp", s.Addr(), arpa, miekg.TypePTR)
		if len(resp.Answer) != 1 {
			t.Fatalf("PTR %s: answer = %v, want one record", tt.addr, resp.Answer)
		}
		if ptr, ok := resp.Answer[0].(*miekg.PTR); !ok || ptr.Ptr != tt.want {
			t.Errorf("PTR %s = %v, want %s", tt.addr, resp.Answer[0], tt.want)
		}
	}

	arpa, _ := miekg.ReverseAddr("192.0.2.1")
	query(t, "udp", s.Addr(), arpa, miekg.TypePTR)
	if got := up.transports(); len(got) != 1 {
		t.Errorf("a PTR query for an address no container has was forwarded %d times, want once", len(got))
	}
}

func TestReverseAddr(t *testing.T) {
	tests := []struct {
		name   string
		want   string
		wantOK bool
	}{
		{"2.0.0.10.in-addr.arpa", "10.0.0.2", true},
		{"6.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa", "fd00::6", true},
		{"0.10.in-addr.arpa", "", false},
		{"256.0.0.10.in-addr.arpa", "", false},
		{"02.0.0.10.in-addr.arpa", "", false},
		{"6.0.ip6.arpa", "", false},
		{"web", "", false},
	}
	for _, tt := range tests {
		got, ok := reverseAddr(tt.name)
		if ok != tt.wantOK || (ok && got.String() != tt.want) {
			t.Errorf("reverseAddr(%q) = %v, %v; want %s, %v", tt.name, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestTruncatesLargeAnswersOverUDP(t *testing.T) {
	n := newNames()
	var many []string
	for i := range 100 {
		many = append(many, fmt.Sprintf("10.0.1.%d", i+1))
	}
	n.set("big", many...)
	s := start(t, n.resolve, nil)

	if resp := query(t, "udp", s.Addr(), "big.", miekg.TypeA); !resp.Truncated {
		t.Errorf("100 addresses over UDP without EDNS: not truncated (%d records)", len(resp.Answer))
	}
	if resp := query(t, "tcp", s.Addr(), "big.", miekg.TypeA); resp.Truncated || len(resp.Answer) != len(many) {
		t.Errorf("over TCP: %d records, truncated %v; want all %d", len(resp.Answer), resp.Truncated, len(many))
	}
}

func TestCloseReleasesThePort(t *testing.T) {
	s, err := Start("127.0.0.1:0", newNames().resolve, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := s.Addr()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("TCP %s still taken after Close: %v", addr, err)
	}
	ln.Close()
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatalf("UDP %s still taken after Close: %v", addr, err)
	}
	pc.Close()
}

func TestStartRejectsBadInput(t *testing.T) {
	if _, err := Start("127.0.0.1:0", newNames().resolve, []string{"ns.example.com"}); err == nil {
		t.Error("an upstream that is a host name: no error")
	}
	if _, err := Start("127.0.0.1:0", nil, nil); err == nil {
		t.Error("no resolver: no error")
	}
	if _, err := Start("127.0.0.1", newNames().resolve, nil); err == nil {
		t.Error("an address without a port: no error")
	}
}

func TestConcurrentQueries(t *testing.T) {
	n := newNames()
	n.set("web", "10.0.0.2")
	n.set("api", "10.0.0.3", "10.0.0.4")
	up := startUpstream(t)
	s := start(t, n.resolve, []string{up.addr})

	stop := make(chan struct{})
	var flipper sync.WaitGroup
	flipper.Go(func() { // containers come and go while clients ask
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			n.set("api", "10.0.0.3", fmt.Sprintf("10.0.0.%d", 4+i%2))
		}
	})

	var clients sync.WaitGroup
	errs := make(chan error, 32*20)
	for c := range 32 {
		clients.Go(func() {
			network := []string{"udp", "tcp"}[c%2]
			for i := range 20 {
				name, want := []string{"web.", "api.", "example.org."}[i%3], []int{1, 2, 1}[i%3]
				resp, err := exchange(network, s.Addr(), name, miekg.TypeA)
				if err != nil {
					errs <- fmt.Errorf("%s over %s: %w", name, network, err)
					continue
				}
				if got := addrs(resp); len(got) != want {
					errs <- fmt.Errorf("%s over %s: addresses %q, want %d", name, network, got, want)
				}
			}
		})
	}
	clients.Wait()
	close(stop)
	flipper.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
