package network

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/comp-dev/comp/runtime"
)

// pool is a network's address plan as its IPAM gives it.
type pool struct {
	subnet  netip.Prefix
	gateway netip.Addr
	ipRange netip.Prefix // zero: the whole subnet
}

// ipv4Pool reads the first IPv4 pool of ipam; nil when there is none (allocate one).
func ipv4Pool(ipam runtime.IPAM) (*pool, error) {
	if ipam.Driver != "" && ipam.Driver != "default" {
		return nil, runtime.Classify(runtime.ErrInvalidArgument,
			fmt.Errorf("ipam driver %q is not supported by the embedded runtime (only default)", ipam.Driver))
	}
	for _, p := range ipam.Pools {
		if p.Subnet == "" {
			continue
		}
		subnet, err := netip.ParsePrefix(p.Subnet)
		if err != nil {
			return nil, runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf("invalid subnet %q: %w", p.Subnet, err))
		}
		if !subnet.Addr().Is4() {
			continue
		}
		if subnet.Masked() != subnet {
			return nil, runtime.Classify(runtime.ErrInvalidArgument,
				fmt.Errorf("invalid subnet %s: it should be %s", subnet, subnet.Masked()))
		}
		if subnet.Bits() > 30 {
			return nil, runtime.Classify(runtime.ErrInvalidArgument,
				fmt.Errorf("subnet %s is too small: it needs room for a gateway and a container", subnet))
		}
		out := &pool{subnet: subnet, gateway: subnet.Addr().Next()}
		if p.Gateway != "" {
			gw, err := netip.ParseAddr(p.Gateway)
			if err != nil || !usable(subnet, gw) {
				return nil, runtime.Classify(runtime.ErrInvalidArgument,
					fmt.Errorf("invalid gateway %q: not a host address of subnet %s", p.Gateway, subnet))
			}
			out.gateway = gw
		}
		if p.IPRange != "" {
			r, err := netip.ParsePrefix(p.IPRange)
			if err != nil || r.Masked() != r || !subnet.Contains(r.Addr()) || r.Bits() < subnet.Bits() {
				return nil, runtime.Classify(runtime.ErrInvalidArgument,
					fmt.Errorf("invalid ip_range %q: not a subnet of %s", p.IPRange, subnet))
			}
			out.ipRange = r
		}
		return out, nil
	}
	return nil, nil
}

// freeSubnet is the first /24 of DefaultPool that overlaps no route of the host (in any
// routing table, default routes aside) and no network of st.
func freeSubnet(st *stateFile) (netip.Prefix, error) {
	taken, err := hostRoutes()
	if err != nil {
		return netip.Prefix{}, err
	}
	for _, r := range st.Networks {
		taken = append(taken, r.Subnet)
	}
	first := DefaultPool.Addr().As4()
	for i := 0; i < 1<<(24-DefaultPool.Bits()); i++ {
		a := first
		a[1] += byte(i >> 8)
		a[2] += byte(i)
		candidate := netip.PrefixFrom(netip.AddrFrom4(a), 24)
		if !DefaultPool.Contains(candidate.Addr()) {
			break
		}
		if !overlapsAny(candidate, taken) {
			return candidate, nil
		}
	}
	return netip.Prefix{}, runtime.Classify(runtime.ErrConflict,
		fmt.Errorf("no free /24 subnet left in %s", DefaultPool))
}

func overlapsAny(p netip.Prefix, list []netip.Prefix) bool {
	for _, q := range list {
		if p.Overlaps(q) {
			return true
		}
	}
	return false
}

// hostRoutes lists the destinations of the host's IPv4 routes, default routes left out.
func hostRoutes() ([]netip.Prefix, error) {
	var routes []netlink.Route
	var err error
	for range 3 {
		routes, err = netlink.RouteListFiltered(netlink.FAMILY_V4,
			&netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("list host routes: %w", err)
	}
	var out []netip.Prefix
	for _, r := range routes {
		if r.Dst == nil {
			continue
		}
		p, ok := prefixOf(r.Dst)
		if !ok || p.Bits() == 0 {
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

// pickIP chooses an endpoint's address: requested (must be a free host address of the subnet),
// else preferred when it is free, else the lowest free address of the range.
func (r *record) pickIP(requested string, preferred netip.Addr) (netip.Addr, error) {
	used := map[netip.Addr]bool{r.Gateway: true}
	for _, e := range r.Endpoints {
		used[e.IP] = true
	}
	if requested != "" {
		a, err := netip.ParseAddr(requested)
		if err != nil || !a.Is4() {
			return netip.Addr{}, runtime.Classify(runtime.ErrInvalidArgument,
				fmt.Errorf("invalid IPv4 address %q", requested))
		}
		if !usable(r.Subnet, a) {
			return netip.Addr{}, runtime.Classify(runtime.ErrInvalidArgument,
				fmt.Errorf("address %s is not a host address of network %s's subnet %s", a, r.Name, r.Subnet))
		}
		if used[a] {
			return netip.Addr{}, runtime.Classify(runtime.ErrConflict,
				fmt.Errorf("address %s is already in use on network %s", a, r.Name))
		}
		return a, nil
	}
	rng := r.Subnet
	if r.IPRange.IsValid() {
		rng = r.IPRange
	}
	if preferred.IsValid() && rng.Contains(preferred) && usable(r.Subnet, preferred) && !used[preferred] {
		return preferred, nil
	}
	for a := rng.Addr(); rng.Contains(a); a = a.Next() {
		if usable(r.Subnet, a) && !used[a] {
			return a, nil
		}
	}
	return netip.Addr{}, runtime.Classify(runtime.ErrConflict,
		fmt.Errorf("no free address left on network %s (%s)", r.Name, rng))
}

// usable tells whether a is a host address of subnet: inside it, neither its network address
// nor its broadcast address.
func usable(subnet netip.Prefix, a netip.Addr) bool {
	if !a.Is4() || !subnet.Contains(a) || a == subnet.Addr() {
		return false
	}
	return a != broadcast(subnet)
}

func broadcast(p netip.Prefix) netip.Addr {
	b := p.Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), ones).Masked(), true
}
