package network

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"

	"github.com/comp-dev/comp/runtime"
)

func TestCreateThenRemoveLeavesNoLinkRuleOrState(t *testing.T) {
	requireRoot(t)
	for _, internal := range []bool{false, true} {
		name := uniqueName("plain")
		if internal {
			name = uniqueName("internal")
		}
		t.Run(name, func(t *testing.T) {
			m := newManager(t)
			bridge := BridgeName(name)
			if got := rulesMentioning(t, bridge); len(got) > 0 {
				t.Fatalf("rules for %s before Create: %v", bridge, got)
			}

			info := create(t, m, runtime.NetworkSpec{Name: name, Internal: internal, Labels: map[string]string{"a": "b"}})
			if info.Bridge != bridge || len(bridge) > 15 || !strings.HasPrefix(bridge, BridgePrefix) {
				t.Errorf("bridge = %q, want %q (at most 15 characters)", info.Bridge, bridge)
			}
			if info.Gateway != info.Subnet.Addr().Next() || info.Internal != internal || info.Labels["a"] != "b" {
				t.Errorf("info = %+v", info)
			}
			link, err := netlink.LinkByName(bridge)
			if err != nil {
				t.Fatalf("bridge missing after Create: %v", err)
			}
			if link.Type() != "bridge" || link.Attrs().Flags&(1<<0) == 0 {
				t.Errorf("link %s: type %s, flags %v; want an up bridge", bridge, link.Type(), link.Attrs().Flags)
			}
			addrs, err := netlink.AddrList(link, netlink.FAMILY_V4)
			if err != nil || len(addrs) != 1 || addrs[0].IPNet.String() != netip.PrefixFrom(info.Gateway, info.Subnet.Bits()).String() {
				t.Errorf("bridge addresses = %v (%v), want the gateway %s/%d", addrs, err, info.Gateway, info.Subnet.Bits())
			}
			rules := rulesMentioning(t, bridge)
			if len(rules) == 0 {
				t.Fatalf("no nftables rule mentions %s after Create", bridge)
			}
			if dockerDropsForward(t) && !strings.Contains(strings.Join(rules, "\n"), "table filter chain FORWARD") {
				t.Errorf("dockerd's FORWARD chain drops, but has no rule for %s: %v", bridge, rules)
			}
			if !internal {
				if b, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); strings.TrimSpace(string(b)) != "1" {
					t.Errorf("ip_forward = %q after creating a non-internal network", b)
				}
			}

			// Idempotent: a second Create returns the same network.
			again := create(t, m, runtime.NetworkSpec{Name: name, Internal: internal})
			if again.Subnet != info.Subnet || again.Bridge != info.Bridge {
				t.Errorf("second Create = %+v, want %+v", again, info)
			}
			if n := len(rulesMentioning(t, bridge)); n != len(rules) {
				t.Errorf("second Create changed the rule count from %d to %d", len(rules), n)
			}

			if err := m.Remove(name); err != nil {
				t.Fatal(err)
			}
			if linkExists(t, bridge) {
				t.Errorf("bridge %s still there after Remove", bridge)
			}
			if got := rulesMentioning(t, bridge); len(got) > 0 {
				t.Errorf("rules left after Remove: %v", got)
			}
			if _, err := m.Get(name); !errors.Is(err, runtime.ErrNotFound) {
				t.Errorf("Get after Remove: %v, want ErrNotFound", err)
			}
			if err := m.Remove(name); !errors.Is(err, runtime.ErrNotFound) {
				t.Errorf("second Remove: %v, want ErrNotFound", err)
			}
			if infos, err := m.List(); err != nil || len(infos) != 0 {
				t.Errorf("List after Remove = %v, %v", infos, err)
			}
		})
	}
}

func TestRemoveOfTheLastNetworkDeletesCompsTable(t *testing.T) {
	requireRoot(t)
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if strings.HasPrefix(l.Attrs().Name, BridgePrefix) {
			t.Skipf("another comp network (%s) exists on this host: comp's table stays for it", l.Attrs().Name)
		}
	}
	m := newManager(t)
	name := uniqueName("last")
	create(t, m, runtime.NetworkSpec{Name: name})
	if err := m.Remove(name); err != nil {
		t.Fatal(err)
	}
	c, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyIPv4)
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		if tb.Name == Table {
			t.Errorf("table ip %s still there after its last network was removed", Table)
		}
	}
}

func TestSubnetAllocation(t *testing.T) {
	requireRoot(t)

	t.Run("skips a subnet in the host's routes", func(t *testing.T) {
		m := newManager(t)
		st, err := m.load()
		if err != nil {
			t.Fatal(err)
		}
		first, err := freeSubnet(st)
		if err != nil {
			t.Fatal(err)
		}
		// A dummy interface routes the subnet that would have come first.
		addDummy(t, netip.PrefixFrom(first.Addr().Next().Next(), 24))
		info := create(t, m, runtime.NetworkSpec{Name: uniqueName("routes")})
		if info.Subnet.Overlaps(first) {
			t.Errorf("subnet %s overlaps the host's route %s", info.Subnet, first)
		}
		if !DefaultPool.Contains(info.Subnet.Addr()) || info.Subnet.Bits() != 24 {
			t.Errorf("subnet %s is not a /24 of %s", info.Subnet, DefaultPool)
		}
	})

	t.Run("skips another comp network", func(t *testing.T) {
		m := newManager(t)
		a := create(t, m, runtime.NetworkSpec{Name: uniqueName("a")})
		b := create(t, m, runtime.NetworkSpec{Name: uniqueName("b")})
		if a.Subnet.Overlaps(b.Subnet) {
			t.Errorf("two networks share %s and %s", a.Subnet, b.Subnet)
		}
	})

	t.Run("skips a network of the state even when its bridge is gone", func(t *testing.T) {
		m := newManager(t)
		a := create(t, m, runtime.NetworkSpec{Name: uniqueName("a")})
		if err := deleteLink(a.Bridge); err != nil { // as after a reboot
			t.Fatal(err)
		}
		b := create(t, m, runtime.NetworkSpec{Name: uniqueName("b")})
		if a.Subnet.Overlaps(b.Subnet) {
			t.Errorf("the new network took %s of a recorded network", b.Subnet)
		}
	})

	t.Run("honours the ipam subnet, gateway and range", func(t *testing.T) {
		m := newManager(t)
		p := freeTestPrefix(t)
		subnet := netip.PrefixFrom(p.Addr(), 28).Masked()
		gw := subnet.Addr().Next().Next().Next() // .3
		info := create(t, m, runtime.NetworkSpec{Name: uniqueName("ipam"), IPAM: runtime.IPAM{Pools: []runtime.IPAMPool{
			{Subnet: "fd00:1::/64"}, // IPv6 pools are skipped
			{Subnet: subnet.String(), Gateway: gw.String(), IPRange: netip.PrefixFrom(subnet.Addr(), 30).String()},
		}}})
		if info.Subnet != subnet || info.Gateway != gw {
			t.Errorf("subnet %s gateway %s, want %s and %s", info.Subnet, info.Gateway, subnet, gw)
		}
		// The range is .0-.3: .0 is the network, .3 the gateway: .1 and .2 are left.
		for _, want := range []netip.Addr{subnet.Addr().Next(), subnet.Addr().Next().Next()} {
			_, ep := attach(t, m, info.Name, AttachRequest{})
			if ep.IP != want {
				t.Errorf("address %s, want %s", ep.IP, want)
			}
		}
		ns := newNetns(t)
		if _, err := m.Attach(info.Name, "full", ns, AttachRequest{}); !errors.Is(err, runtime.ErrConflict) {
			t.Errorf("attach to a full range: %v, want ErrConflict", err)
		}
	})

	t.Run("refuses an ipam subnet overlapping another comp network", func(t *testing.T) {
		m := newManager(t)
		a := create(t, m, runtime.NetworkSpec{Name: uniqueName("a")})
		_, err := m.Create(runtime.NetworkSpec{Name: uniqueName("b"),
			IPAM: runtime.IPAM{Pools: []runtime.IPAMPool{{Subnet: netip.PrefixFrom(a.Subnet.Addr(), 25).String()}}}})
		if !errors.Is(err, runtime.ErrConflict) {
			t.Errorf("err = %v, want ErrConflict", err)
		}
	})

	t.Run("persists across Manager instances", func(t *testing.T) {
		dir := t.TempDir()
		m1 := managerAt(t, dir)
		name := uniqueName("persist")
		info := create(t, m1, runtime.NetworkSpec{Name: name, Labels: map[string]string{"k": "v"}})
		_, ep := attach(t, m1, name, AttachRequest{})

		m2 := managerAt(t, dir)
		got, err := m2.Get(name)
		if err != nil {
			t.Fatal(err)
		}
		if got.Subnet != info.Subnet || got.Gateway != info.Gateway || got.Labels["k"] != "v" || got.Endpoints[findKey(got, ep)].IP != ep.IP {
			t.Errorf("second manager sees %+v, want %+v with endpoint %s", got, info, ep.IP)
		}
		other := create(t, m2, runtime.NetworkSpec{Name: uniqueName("other")})
		if other.Subnet == info.Subnet {
			t.Errorf("second manager reallocated %s", info.Subnet)
		}
		again := create(t, m2, runtime.NetworkSpec{Name: name})
		if again.Subnet != info.Subnet {
			t.Errorf("Create of the existing network on a new manager: subnet %s, want %s", again.Subnet, info.Subnet)
		}
	})
}

func findKey(info Info, ep Endpoint) string {
	for k, e := range info.Endpoints {
		if e.HostVeth == ep.HostVeth {
			return k
		}
	}
	return ""
}

func TestCreateRefusesWhatItCannotDo(t *testing.T) {
	requireRoot(t)
	m := newManager(t)
	cases := []struct {
		name string
		spec runtime.NetworkSpec
		want error
	}{
		{"a name that escapes the folder", runtime.NetworkSpec{Name: "../x"}, runtime.ErrInvalidArgument},
		{"another driver", runtime.NetworkSpec{Name: "x", Driver: "overlay"}, runtime.ErrInvalidArgument},
		{"IPv6", runtime.NetworkSpec{Name: "x", EnableIPv6: true}, runtime.ErrNotImplemented},
		{"a subnet with host bits", runtime.NetworkSpec{Name: "x", IPAM: runtime.IPAM{Pools: []runtime.IPAMPool{{Subnet: "10.99.0.1/24"}}}}, runtime.ErrInvalidArgument},
		{"a gateway outside the subnet", runtime.NetworkSpec{Name: "x", IPAM: runtime.IPAM{Pools: []runtime.IPAMPool{{Subnet: "10.99.0.0/24", Gateway: "10.98.0.1"}}}}, runtime.ErrInvalidArgument},
		{"a range outside the subnet", runtime.NetworkSpec{Name: "x", IPAM: runtime.IPAM{Pools: []runtime.IPAMPool{{Subnet: "10.99.0.0/24", IPRange: "10.99.1.0/28"}}}}, runtime.ErrInvalidArgument},
		{"a bad MTU", runtime.NetworkSpec{Name: "x", DriverOpts: map[string]string{mtuOption: "big"}}, runtime.ErrInvalidArgument},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := CheckSpec(c.spec); !errors.Is(err, c.want) {
				t.Errorf("CheckSpec: %v, want %v (comp asks it before creating anything)", err, c.want)
			}
			if _, err := m.Create(c.spec); !errors.Is(err, c.want) {
				t.Errorf("err = %v, want %v", err, c.want)
			}
		})
	}
	if err := CheckSpec(runtime.NetworkSpec{Name: "x", IPAM: runtime.IPAM{Pools: []runtime.IPAMPool{{Subnet: "10.99.0.0/24"}}}}); err != nil {
		t.Errorf("CheckSpec of a network Create makes: %v", err)
	}
	if infos, _ := m.List(); len(infos) != 0 {
		t.Errorf("refused networks were recorded: %v", infos)
	}
	if _, err := os.Stat(filepath.Join(m.dir, "networks.json")); err == nil {
		if b, _ := os.ReadFile(filepath.Join(m.dir, "networks.json")); strings.Contains(string(b), `"x"`) {
			t.Errorf("state holds a refused network: %s", b)
		}
	}
}

func TestRemoveRefusesWhileEndpointsRemain(t *testing.T) {
	requireRoot(t)
	m := newManager(t)
	name := uniqueName("busy")
	create(t, m, runtime.NetworkSpec{Name: name})
	ns := newNetns(t)
	if _, err := m.Attach(name, "c1", ns, AttachRequest{}); err != nil {
		t.Fatal(err)
	}
	if err := m.Remove(name); !errors.Is(err, runtime.ErrConflict) || !strings.Contains(err.Error(), "c1") {
		t.Errorf("Remove with an endpoint: %v, want ErrConflict naming c1", err)
	}
	// Deleting the namespace deletes the veth pair: the endpoint is stale and no longer counts.
	if err := DeleteNetns(ns); err != nil {
		t.Fatal(err)
	}
	waitLinkGone(t, VethName(name, "c1"))
	if err := m.Remove(name); err != nil {
		t.Errorf("Remove after the namespace was deleted: %v", err)
	}
}

func TestConcurrentManagersAgree(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	managers := []*Manager{managerAt(t, dir), managerAt(t, dir)}
	const n = 6
	names := make([]string, n)
	for i := range names {
		names[i] = uniqueName("conc")
	}
	errs := make(chan error, 2*n)
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := managers[i%2].Create(runtime.NetworkSpec{Name: name})
			errs <- err
		}()
	}
	wg.Wait()
	shared := names[0]
	namespaces := make([]string, n)
	for i := range namespaces {
		namespaces[i] = newNetns(t)
	}
	for i, ns := range namespaces {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := managers[i%2].Attach(shared, "c"+strconv.Itoa(i), ns, AttachRequest{})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	infos, err := managers[1].List()
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != n {
		t.Fatalf("%d networks, want %d", len(infos), n)
	}
	subnets := map[netip.Prefix]bool{}
	for _, info := range infos {
		if subnets[info.Subnet] {
			t.Errorf("subnet %s given twice", info.Subnet)
		}
		subnets[info.Subnet] = true
		if info.Name != shared {
			continue
		}
		ips := map[netip.Addr]bool{}
		for _, ep := range info.Endpoints {
			if ips[ep.IP] {
				t.Errorf("address %s given twice", ep.IP)
			}
			ips[ep.IP] = true
		}
		if len(ips) != n {
			t.Errorf("%d endpoints on %s, want %d", len(ips), shared, n)
		}
	}
}
