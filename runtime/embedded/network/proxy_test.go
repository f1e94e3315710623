package network

import (
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/comp-dev/comp/runtime"
)

// publishedServer makes a network and a namespace on it with TCP and UDP echo servers on port
// 8080, and returns the namespace's address.
func publishedServer(t *testing.T) netip.Addr {
	t.Helper()
	m := newManager(t)
	name := uniqueName("ports")
	create(t, m, runtime.NetworkSpec{Name: name})
	ns, ep := attach(t, m, name, AttachRequest{DefaultRoute: true})
	serveEcho(t, ns, "tcp", netip.AddrPortFrom(ep.IP, 8080).String())
	serveEcho(t, ns, "udp", netip.AddrPortFrom(ep.IP, 8080).String())
	return ep.IP
}

func publish(t *testing.T, specs []runtime.PortSpec, ip netip.Addr) []runtime.Port {
	t.Helper()
	p, ports, err := Publish(specs, ip)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return ports
}

func TestPublishForwardsTCPAndUDPFromARandomLoopbackPort(t *testing.T) {
	requireRoot(t)
	ip := publishedServer(t)
	ports := publish(t, []runtime.PortSpec{
		{HostIP: "127.0.0.1", ContainerPort: 8080, Protocol: "tcp"},
		{HostIP: "127.0.0.1", HostPort: "0", ContainerPort: 8080, Protocol: "udp"},
	}, ip)
	if len(ports) != 2 {
		t.Fatalf("ports = %v", ports)
	}
	for i, proto := range []string{"tcp", "udp"} {
		p := ports[i]
		if p.HostIP != "127.0.0.1" || p.HostPort == 0 || p.ContainerPort != 8080 || p.Protocol != proto {
			t.Errorf("port %d = %+v", i, p)
		}
		addr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), p.HostPort)
		for range 3 { // several connections / datagrams of one flow
			if err := echo("", proto, addr, reach); err != nil {
				t.Errorf("%s through %s: %v", proto, addr, err)
			}
		}
	}
}

func TestPublishOnAllAddresses(t *testing.T) {
	requireRoot(t)
	ip := publishedServer(t)
	ports := publish(t, []runtime.PortSpec{{ContainerPort: 8080}}, ip)
	if ports[0].HostIP != "0.0.0.0" || ports[0].Protocol != "tcp" {
		t.Errorf("port = %+v, want 0.0.0.0 and tcp", ports[0])
	}
	if err := echo("", "tcp", netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), ports[0].HostPort), reach); err != nil {
		t.Error(err)
	}
}

func TestPublishATakenPortIsAConflict(t *testing.T) {
	requireRoot(t)
	ip := publishedServer(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	port := strconv.Itoa(taken.Addr().(*net.TCPAddr).Port)

	_, _, err = Publish([]runtime.PortSpec{
		{HostIP: "127.0.0.1", ContainerPort: 8080, Protocol: "udp"}, // bound, then released
		{HostIP: "127.0.0.1", HostPort: port, ContainerPort: 8080},
	}, ip)
	if !errors.Is(err, runtime.ErrConflict) || !strings.Contains(err.Error(), "127.0.0.1:"+port) {
		t.Errorf("err = %v, want ErrConflict naming 127.0.0.1:%s", err, port)
	}
}

func TestPublishARangeTakesItsFirstFreePort(t *testing.T) {
	requireRoot(t)
	ip := publishedServer(t)
	// Two adjacent free ports, the first of them taken.
	var taken net.Listener
	var first int
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		first = l.Addr().(*net.TCPAddr).Port
		if next, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(first+1)); err == nil {
			next.Close()
			taken = l
			break
		}
		l.Close()
	}
	if taken == nil {
		t.Fatal("no two adjacent free ports")
	}
	defer taken.Close()
	ports := publish(t, []runtime.PortSpec{{HostIP: "127.0.0.1", HostPort: strconv.Itoa(first) + "-" + strconv.Itoa(first+1), ContainerPort: 8080}}, ip)
	if int(ports[0].HostPort) != first+1 {
		t.Errorf("bound %d, want %d", ports[0].HostPort, first+1)
	}
	if err := echo("", "tcp", netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), ports[0].HostPort), reach); err != nil {
		t.Error(err)
	}
	_, _, err := Publish([]runtime.PortSpec{{HostIP: "127.0.0.1", HostPort: strconv.Itoa(first) + "-" + strconv.Itoa(first+1), ContainerPort: 8080}}, ip)
	if !errors.Is(err, runtime.ErrConflict) {
		t.Errorf("a full range: %v, want ErrConflict", err)
	}
}

func TestProxyCloseReleasesThePorts(t *testing.T) {
	requireRoot(t)
	ip := publishedServer(t)
	p, ports, err := Publish([]runtime.PortSpec{{HostIP: "127.0.0.1", ContainerPort: 8080}}, ip)
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), ports[0].HostPort)
	// A connection still open when the proxy closes does not hold Close up.
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", addr.String())
	if err != nil {
		t.Fatalf("port %s still bound after Close: %v", addr, err)
	}
	l.Close()
}

func TestPublishRefusesBadSpecs(t *testing.T) {
	ip := netip.MustParseAddr("127.0.0.1")
	cases := []struct {
		name string
		spec runtime.PortSpec
		want error
	}{
		{"sctp", runtime.PortSpec{ContainerPort: 80, Protocol: "sctp"}, runtime.ErrNotImplemented},
		{"a bad host port", runtime.PortSpec{HostPort: "eighty", ContainerPort: 80}, runtime.ErrInvalidArgument},
		{"a backwards range", runtime.PortSpec{HostPort: "9000-8000", ContainerPort: 80}, runtime.ErrInvalidArgument},
		{"a bad host IP", runtime.PortSpec{HostIP: "localhost", ContainerPort: 80}, runtime.ErrInvalidArgument},
		{"no container port", runtime.PortSpec{}, runtime.ErrInvalidArgument},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, _, err := Publish([]runtime.PortSpec{c.spec}, ip); !errors.Is(err, c.want) {
				t.Errorf("err = %v, want %v", err, c.want)
			}
		})
	}
}
