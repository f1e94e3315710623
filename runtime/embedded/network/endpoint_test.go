package network

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/comp-dev/comp/runtime"
)

const (
	reach   = 5 * time.Second         // a connection that must work
	blocked = 1500 * time.Millisecond // how long a blocked one is given to fail
)

func TestTwoNamespacesOnOneBridgeReachEachOther(t *testing.T) {
	requireRoot(t)
	t.Logf("dockerd's FORWARD policy drop present: %v", dockerDropsForward(t))
	m := newManager(t)
	name := uniqueName("pair")
	create(t, m, runtime.NetworkSpec{Name: name})
	ns1, ep1 := attach(t, m, name, AttachRequest{DefaultRoute: true})
	ns2, ep2 := attach(t, m, name, AttachRequest{DefaultRoute: true})

	for _, proto := range []string{"tcp", "udp"} {
		srv := serveEcho(t, ns2, proto, netip.AddrPortFrom(ep2.IP, 0).String())
		if err := echo(ns1, proto, srv, reach); err != nil {
			t.Errorf("%s from %s to %s on one bridge: %v", proto, ep1.IP, srv, err)
		}
	}
	srv := serveEcho(t, ns1, "tcp", netip.AddrPortFrom(ep1.IP, 0).String())
	if err := echo(ns2, "tcp", srv, reach); err != nil {
		t.Errorf("tcp from %s to %s: %v", ep2.IP, srv, err)
	}
	// The host reaches its containers through the bridge (the port proxy relies on it).
	if err := echo("", "tcp", srv, reach); err != nil {
		t.Errorf("tcp from the host to %s: %v", srv, err)
	}
}

func TestTwoBridgesAreIsolated(t *testing.T) {
	requireRoot(t)
	m := newManager(t)
	a, b := uniqueName("left"), uniqueName("right")
	create(t, m, runtime.NetworkSpec{Name: a})
	create(t, m, runtime.NetworkSpec{Name: b})
	nsA, _ := attach(t, m, a, AttachRequest{DefaultRoute: true})
	nsB, epB := attach(t, m, b, AttachRequest{DefaultRoute: true})
	srvB := serveEcho(t, nsB, "tcp", netip.AddrPortFrom(epB.IP, 0).String())

	if err := echo(nsA, "tcp", srvB, blocked); err == nil {
		t.Errorf("a namespace on %s reached %s on %s", a, srvB, b)
	}
	// Not because b is unreachable: the host reaches it.
	if err := echo("", "tcp", srvB, reach); err != nil {
		t.Errorf("the host cannot reach %s: %v", srvB, err)
	}
}

func TestInternalNetworkCannotReachTheHostsOtherAddresses(t *testing.T) {
	requireRoot(t)
	p := freeTestPrefix(t)
	hostAddr := p.Addr().Next()
	addDummy(t, netip.PrefixFrom(hostAddr, 32))
	onHost := serveEcho(t, "", "tcp", netip.AddrPortFrom(hostAddr, 0).String())

	m := newManager(t)
	open, internal := uniqueName("open"), uniqueName("closed")
	create(t, m, runtime.NetworkSpec{Name: open})
	in := create(t, m, runtime.NetworkSpec{Name: internal, Internal: true})

	nsOpen, _ := attach(t, m, open, AttachRequest{DefaultRoute: true})
	if err := echo(nsOpen, "tcp", onHost, reach); err != nil {
		t.Errorf("a non-internal network cannot reach the host's %s: %v", onHost, err)
	}

	nsIn, epIn := attach(t, m, internal, AttachRequest{DefaultRoute: true})
	if epIn.DefaultRoute {
		t.Errorf("an internal network got a default route")
	}
	if routes := defaultRoutes(t, nsIn); len(routes) > 0 {
		t.Errorf("an internal network's namespace has default routes: %v", routes)
	}
	// Even with a route of its own making, the firewall stops it.
	addRoute(t, nsIn, netip.PrefixFrom(hostAddr, 32), in.Gateway)
	if err := echo(nsIn, "tcp", onHost, blocked); err == nil {
		t.Errorf("an internal network reached the host's %s", onHost)
	}
	// Its gateway stays reachable (a DNS server would listen there).
	onGateway := serveEcho(t, "", "tcp", netip.AddrPortFrom(in.Gateway, 0).String())
	if err := echo(nsIn, "tcp", onGateway, reach); err != nil {
		t.Errorf("an internal network cannot reach its gateway %s: %v", onGateway, err)
	}
	// And so is the rest of the internal network.
	nsIn2, epIn2 := attach(t, m, internal, AttachRequest{})
	srv := serveEcho(t, nsIn2, "tcp", netip.AddrPortFrom(epIn2.IP, 0).String())
	if err := echo(nsIn, "tcp", srv, reach); err != nil {
		t.Errorf("two namespaces of an internal network: %v", err)
	}
}

func TestTrafficLeavingTheHostIsMasqueraded(t *testing.T) {
	requireRoot(t)
	p := freeTestPrefix(t)
	outside, outsideAddr := addOutside(t, p)
	srv := serveRemoteAddr(t, outside, netip.AddrPortFrom(outsideAddr, 0).String())

	m := newManager(t)
	open, internal := uniqueName("egress"), uniqueName("noegress")
	create(t, m, runtime.NetworkSpec{Name: open})
	in := create(t, m, runtime.NetworkSpec{Name: internal, Internal: true})

	ns, _ := attach(t, m, open, AttachRequest{DefaultRoute: true})
	got, err := readFrom(ns, srv, reach)
	if err != nil {
		t.Fatalf("connect to %s outside: %v", srv, err)
	}
	from, err := netip.ParseAddrPort(got)
	if err != nil || from.Addr() != p.Addr().Next() {
		t.Errorf("the outside saw the client as %q, want the host's %s (masqueraded)", got, p.Addr().Next())
	}

	nsIn, _ := attach(t, m, internal, AttachRequest{DefaultRoute: true})
	addRoute(t, nsIn, p, in.Gateway)
	if got, err := readFrom(nsIn, srv, blocked); err == nil {
		t.Errorf("an internal network reached the outside (seen as %s)", got)
	}
	// Not even one-way: a datagram needs no answer.
	sink, received := udpSink(t, outside, netip.AddrPortFrom(outsideAddr, 0).String())
	sendUDP(t, ns, sink)
	select {
	case <-received:
	case <-time.After(reach):
		t.Errorf("a datagram from the non-internal network did not reach the outside")
	}
	sink, received = udpSink(t, outside, netip.AddrPortFrom(outsideAddr, 0).String())
	sendUDP(t, nsIn, sink)
	select {
	case from := <-received:
		t.Errorf("a datagram from the internal network reached the outside (from %s)", from)
	case <-time.After(blocked):
	}
}

func TestAttachWithFixedAddressAndMAC(t *testing.T) {
	requireRoot(t)
	m := newManager(t)
	name := uniqueName("fixed")
	info := create(t, m, runtime.NetworkSpec{Name: name})
	ip := info.Subnet.Addr().Next().Next().Next().Next().Next() // .5
	const mac = "02:00:00:ab:cd:ef"

	ns := newNetns(t)
	ep, err := m.Attach(name, "c1", ns, AttachRequest{IPv4: ip.String(), MAC: mac, IfName: "eth0", DefaultRoute: true})
	if err != nil {
		t.Fatal(err)
	}
	if ep.IP != ip || ep.MAC != mac || ep.Gateway != info.Gateway || ep.IfName != "eth0" || ep.Network != name {
		t.Errorf("endpoint = %+v", ep)
	}
	link := linkIn(t, ns, "eth0")
	if link.Attrs().HardwareAddr.String() != mac || link.Attrs().Flags&net.FlagUp == 0 {
		t.Errorf("eth0: mac %s flags %v", link.Attrs().HardwareAddr, link.Attrs().Flags)
	}
	if got := addrsIn(t, ns, "eth0"); len(got) != 1 || got[0] != netip.PrefixFrom(ip, 24) {
		t.Errorf("eth0 addresses = %v, want %s/24", got, ip)
	}
	if routes := defaultRoutes(t, ns); len(routes) != 1 || !routes[0].Gw.Equal(net.IP(info.Gateway.AsSlice())) {
		t.Errorf("default routes = %v, want one via %s", routes, info.Gateway)
	}
	host, err := netlink.LinkByName(ep.HostVeth)
	if err != nil {
		t.Fatal(err)
	}
	bridge, _ := netlink.LinkByName(info.Bridge)
	if host.Attrs().MasterIndex != bridge.Attrs().Index || host.Attrs().Flags&net.FlagUp == 0 {
		t.Errorf("host veth %s: master %d (bridge %d), flags %v", ep.HostVeth, host.Attrs().MasterIndex, bridge.Attrs().Index, host.Attrs().Flags)
	}

	other := newNetns(t)
	cases := []struct {
		name string
		req  AttachRequest
		want error
	}{
		{"an address in use", AttachRequest{IPv4: ip.String()}, runtime.ErrConflict},
		{"the gateway's address", AttachRequest{IPv4: info.Gateway.String()}, runtime.ErrConflict},
		{"an address outside the subnet", AttachRequest{IPv4: "192.0.2.200"}, runtime.ErrInvalidArgument},
		{"the broadcast address", AttachRequest{IPv4: broadcast(info.Subnet).String()}, runtime.ErrInvalidArgument},
		{"not an address", AttachRequest{IPv4: "ten"}, runtime.ErrInvalidArgument},
		{"a bad MAC", AttachRequest{MAC: "zz:00"}, runtime.ErrInvalidArgument},
		{"a multicast MAC", AttachRequest{MAC: "01:00:5e:00:00:01"}, runtime.ErrInvalidArgument},
		{"a bad interface name", AttachRequest{IfName: "a/b"}, runtime.ErrInvalidArgument},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := m.Attach(name, "c2", other, c.req); !errors.Is(err, c.want) {
				t.Errorf("err = %v, want %v", err, c.want)
			}
		})
	}
	if _, err := m.Attach(uniqueName("missing"), "c2", other, AttachRequest{}); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("attach to a missing network: %v, want ErrNotFound", err)
	}
	if _, err := m.Attach(name, "c3", ns, AttachRequest{IfName: "eth0"}); !errors.Is(err, runtime.ErrConflict) {
		t.Errorf("a second eth0 in one namespace: %v, want ErrConflict", err)
	}
	if linkExists(t, VethName(name, "c2")) || linkExists(t, VethName(name, "c3")) {
		t.Errorf("a refused attach left its veth")
	}
	got, _ := m.Get(name)
	if len(got.Endpoints) != 1 {
		t.Errorf("endpoints after refused attaches = %v", got.Endpoints)
	}
}

func TestSecondNetworkOnEth1WithoutDefaultRoute(t *testing.T) {
	requireRoot(t)
	m := newManager(t)
	a, b := uniqueName("front"), uniqueName("back")
	create(t, m, runtime.NetworkSpec{Name: a})
	infoB := create(t, m, runtime.NetworkSpec{Name: b})
	ns, _ := attach(t, m, a, AttachRequest{DefaultRoute: true})
	ep, err := m.Attach(b, "c1", ns, AttachRequest{IfName: "eth1"})
	if err != nil {
		t.Fatal(err)
	}
	if got := addrsIn(t, ns, "eth1"); len(got) != 1 || got[0].Addr() != ep.IP {
		t.Errorf("eth1 addresses = %v, want %s", got, ep.IP)
	}
	if routes := defaultRoutes(t, ns); len(routes) != 1 || routes[0].Gw.Equal(net.IP(infoB.Gateway.AsSlice())) {
		t.Errorf("default routes = %v, want only the first network's", routes)
	}
	srv := serveEcho(t, ns, "tcp", netip.AddrPortFrom(ep.IP, 0).String())
	if err := echo("", "tcp", srv, reach); err != nil {
		t.Errorf("eth1's address: %v", err)
	}
}

func TestDetachFreesTheAddressForReuse(t *testing.T) {
	requireRoot(t)
	m := newManager(t)
	name := uniqueName("reuse")
	info := create(t, m, runtime.NetworkSpec{Name: name})
	first := info.Gateway.Next()

	ns1, ns2, ns3 := newNetns(t), newNetns(t), newNetns(t)
	ep1, err := m.Attach(name, "c1", ns1, AttachRequest{})
	if err != nil {
		t.Fatal(err)
	}
	ep2, err := m.Attach(name, "c2", ns2, AttachRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if ep1.IP != first || ep2.IP != first.Next() {
		t.Fatalf("addresses %s and %s, want %s and %s", ep1.IP, ep2.IP, first, first.Next())
	}
	if err := m.Detach(name, "c1"); err != nil {
		t.Fatal(err)
	}
	if linkExists(t, ep1.HostVeth) {
		t.Errorf("host veth %s still there after Detach", ep1.HostVeth)
	}
	if _, err := netlinkIn(t, ns1).LinkByName("eth0"); err == nil {
		t.Errorf("eth0 still in the namespace after Detach")
	}
	ep3, err := m.Attach(name, "c3", ns3, AttachRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if ep3.IP != first {
		t.Errorf("address after Detach = %s, want the freed %s", ep3.IP, first)
	}
	for _, c := range []struct{ network, key string }{{name, "c1"}, {name, "never"}, {uniqueName("missing"), "c1"}} {
		if err := m.Detach(c.network, c.key); err != nil {
			t.Errorf("Detach(%s, %s) of nothing: %v", c.network, c.key, err)
		}
	}
}

func TestReattachAfterARestartKeepsTheAddress(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	m := managerAt(t, dir)
	name := uniqueName("restart")
	create(t, m, runtime.NetworkSpec{Name: name})
	_, other := attach(t, m, name, AttachRequest{})
	ns := newNetns(t)
	ep, err := m.Attach(name, "c1", ns, AttachRequest{})
	if err != nil {
		t.Fatal(err)
	}

	// The container restarts in a new namespace; comp restarted too.
	if err := DeleteNetns(ns); err != nil {
		t.Fatal(err)
	}
	m2 := managerAt(t, dir)
	ns2 := newNetns(t)
	again, err := m2.Attach(name, "c1", ns2, AttachRequest{DefaultRoute: true})
	if err != nil {
		t.Fatal(err)
	}
	if again.IP != ep.IP || again.HostVeth != ep.HostVeth || again.IP == other.IP {
		t.Errorf("re-attach = %+v, want the address %s and veth %s again", again, ep.IP, ep.HostVeth)
	}
	info, _ := m2.Get(name)
	if len(info.Endpoints) != 2 {
		t.Errorf("endpoints = %v, want 2", info.Endpoints)
	}
	srv := serveEcho(t, ns2, "tcp", netip.AddrPortFrom(again.IP, 0).String())
	if err := echo("", "tcp", srv, reach); err != nil {
		t.Errorf("the re-attached namespace: %v", err)
	}
}

func TestRestoreRebuildsBridgesAndRules(t *testing.T) {
	requireRoot(t)
	m := newManager(t)
	name := uniqueName("reboot")
	info := create(t, m, runtime.NetworkSpec{Name: name})
	before := rulesMentioning(t, info.Bridge)
	if err := unrealize(&record{Bridge: info.Bridge}); err != nil { // as after a reboot
		t.Fatal(err)
	}
	if err := m.Restore(); err != nil {
		t.Fatal(err)
	}
	if !linkExists(t, info.Bridge) {
		t.Errorf("Restore did not rebuild bridge %s", info.Bridge)
	}
	if after := rulesMentioning(t, info.Bridge); len(after) != len(before) {
		t.Errorf("rules after Restore: %v, want as many as %v", after, before)
	}
	if err := m.Restore(); err != nil {
		t.Fatal(err)
	}
	if again := rulesMentioning(t, info.Bridge); len(again) != len(before) {
		t.Errorf("a second Restore changed the rules: %v", again)
	}
}

func TestAttachRebuildsAMissingBridge(t *testing.T) {
	requireRoot(t)
	m := newManager(t)
	name := uniqueName("reboot")
	info := create(t, m, runtime.NetworkSpec{Name: name})
	if err := unrealize(&record{Bridge: info.Bridge}); err != nil { // as after a reboot
		t.Fatal(err)
	}
	ns1, _ := attach(t, m, name, AttachRequest{DefaultRoute: true})
	ns2, ep2 := attach(t, m, name, AttachRequest{DefaultRoute: true})
	srv := serveEcho(t, ns2, "tcp", netip.AddrPortFrom(ep2.IP, 0).String())
	if err := echo(ns1, "tcp", srv, reach); err != nil {
		t.Errorf("after the bridge and rules were rebuilt: %v", err)
	}
}

func TestNetnsLifecycle(t *testing.T) {
	requireRoot(t)
	path := newNetns(t)
	ns, err := netns.GetFromPath(path)
	if err != nil {
		t.Fatal(err)
	}
	host, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	if ns.Equal(host) {
		t.Errorf("the new namespace is the host's")
	}
	ns.Close()
	host.Close()
	if lo := linkIn(t, path, "lo"); lo.Attrs().Flags&net.FlagUp == 0 {
		t.Errorf("lo is down in a new namespace")
	}
	if links, _ := netlinkIn(t, path).LinkList(); len(links) != 1 {
		t.Errorf("a new namespace has links %v, want lo only", links)
	}
	if err := NewNetns(path); !errors.Is(err, runtime.ErrConflict) {
		t.Errorf("NewNetns on an existing path: %v, want ErrConflict", err)
	}
	if err := DeleteNetns(path); err != nil {
		t.Fatal(err)
	}
	if _, err := netns.GetFromPath(path); err == nil {
		t.Errorf("the namespace is still at %s", path)
	}
	if err := DeleteNetns(path); err != nil {
		t.Errorf("second DeleteNetns: %v", err)
	}
}

func netlinkIn(t *testing.T, nsPath string) *netlink.Handle {
	t.Helper()
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

func linkIn(t *testing.T, nsPath, name string) netlink.Link {
	t.Helper()
	l, err := netlinkIn(t, nsPath).LinkByName(name)
	if err != nil {
		t.Fatalf("%s in %s: %v", name, nsPath, err)
	}
	return l
}

func addrsIn(t *testing.T, nsPath, name string) []netip.Prefix {
	t.Helper()
	h := netlinkIn(t, nsPath)
	l, err := h.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	addrs, err := h.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	var out []netip.Prefix
	for _, a := range addrs {
		p, _ := prefixOf(a.IPNet)
		out = append(out, netip.PrefixFrom(netip.MustParseAddr(a.IP.String()), p.Bits()))
	}
	return out
}

func defaultRoutes(t *testing.T, nsPath string) []netlink.Route {
	t.Helper()
	routes, err := netlinkIn(t, nsPath).RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	var out []netlink.Route
	for _, r := range routes {
		if r.Dst == nil || r.Dst.IP.IsUnspecified() {
			out = append(out, r)
		}
	}
	return out
}

func addRoute(t *testing.T, nsPath string, dst netip.Prefix, via netip.Addr) {
	t.Helper()
	if err := netlinkIn(t, nsPath).RouteAdd(&netlink.Route{Dst: ipNet(dst), Gw: net.IP(via.AsSlice())}); err != nil {
		t.Fatalf("route %s via %s: %v", dst, via, err)
	}
}

// waitLinkGone waits for the kernel to delete a veth whose namespace was deleted (it does so
// asynchronously).
func waitLinkGone(t *testing.T, name string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if !linkExists(t, name) {
			return
		}
	}
	t.Fatalf("link %s still there 10s after its namespace was deleted", name)
}
