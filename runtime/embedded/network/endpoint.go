package network

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/comp-dev/comp/runtime"
)

// AttachRequest says how a namespace joins a network.
type AttachRequest struct {
	// IPv4 is the address wanted ("" for the lowest free one; a re-attach keeps its address when
	// it can).
	IPv4 string
	// MAC is the interface's address ("" for one derived from the IP, as Docker did).
	MAC string
	// IfName is the interface's name in the namespace ("" for "eth0").
	IfName string
	// DefaultRoute adds a default route via the network's gateway (never on an internal
	// network, which has no way out).
	DefaultRoute bool
}

// Endpoint is a namespace's interface on a network.
type Endpoint struct {
	Network  string
	IfName   string
	IP       netip.Addr
	Gateway  netip.Addr
	MAC      string
	HostVeth string
	// Netns is the path of the namespace, as given to Attach.
	Netns string
	// DefaultRoute tells whether a default route via Gateway was added.
	DefaultRoute bool
}

func (e *endpointRecord) endpoint(r *record) Endpoint {
	return Endpoint{
		Network: r.Name, IfName: e.IfName, IP: e.IP, Gateway: r.Gateway, MAC: e.MAC,
		HostVeth: e.HostVeth, Netns: e.Netns, DefaultRoute: e.Default,
	}
}

// VethName is the host end of the veth of endpoint key on network: "vc" and 11 hex digits of
// a hash of both, so that it is found again from the key alone.
func VethName(network, key string) string {
	sum := sha256.Sum256([]byte(network + "\x00" + key))
	return "vc" + hex.EncodeToString(sum[:])[:11]
}

// Attach connects the network namespace at netnsPath to network through a veth pair: the host
// end on the bridge, the other end named req.IfName in the namespace with its address, up, and
// the default route when asked. key (the container ID) names the endpoint: attaching a key
// again replaces its endpoint and keeps its address when it can. A requested address outside
// the subnet is ErrInvalidArgument, one in use ErrConflict.
func (m *Manager) Attach(network, key, netnsPath string, req AttachRequest) (Endpoint, error) {
	if req.IfName == "" {
		req.IfName = "eth0"
	}
	if len(req.IfName) > 15 || strings.ContainsAny(req.IfName, "/: \t\n") || req.IfName == "." || req.IfName == ".." {
		return Endpoint{}, runtime.Classify(runtime.ErrInvalidArgument,
			fmt.Errorf("attach to network %s: invalid interface name %q", network, req.IfName))
	}
	if key == "" {
		return Endpoint{}, runtime.Classify(runtime.ErrInvalidArgument,
			fmt.Errorf("attach to network %s: empty endpoint key", network))
	}
	var mac net.HardwareAddr
	if req.MAC != "" {
		var err error
		mac, err = net.ParseMAC(req.MAC)
		if err != nil || len(mac) != 6 || mac[0]&1 != 0 {
			return Endpoint{}, runtime.Classify(runtime.ErrInvalidArgument,
				fmt.Errorf("attach to network %s: invalid MAC address %q", network, req.MAC))
		}
	}

	release, err := m.lock()
	if err != nil {
		return Endpoint{}, err
	}
	defer release()
	st, err := m.load()
	if err != nil {
		return Endpoint{}, err
	}
	r, ok := st.Networks[network]
	if !ok {
		return Endpoint{}, runtime.Classify(runtime.ErrNotFound, fmt.Errorf("no such network: %s", network))
	}
	if err := realize(r, false); err != nil {
		return Endpoint{}, fmt.Errorf("attach to network %s: %w", network, err)
	}

	var preferred netip.Addr
	if old, ok := r.Endpoints[key]; ok {
		preferred = old.IP
		if err := deleteLink(old.HostVeth); err != nil {
			return Endpoint{}, fmt.Errorf("attach %s to network %s: %w", key, network, err)
		}
		delete(r.Endpoints, key)
	}
	pruneEndpoints(r)
	ip, err := r.pickIP(req.IPv4, preferred)
	if err != nil {
		return Endpoint{}, fmt.Errorf("attach %s to network %s: %w", key, network, err)
	}
	if mac == nil {
		a := ip.As4()
		mac = net.HardwareAddr{0x02, 0x42, a[0], a[1], a[2], a[3]}
	}
	ep := &endpointRecord{
		IfName: req.IfName, IP: ip, MAC: mac.String(), HostVeth: VethName(network, key),
		Netns: netnsPath, Default: req.DefaultRoute && !r.Internal,
	}
	if err := plug(r, ep, mac); err != nil {
		return Endpoint{}, fmt.Errorf("attach %s to network %s: %w", key, network, err)
	}
	r.Endpoints[key] = ep
	if err := m.save(st); err != nil {
		deleteLink(ep.HostVeth)
		return Endpoint{}, err
	}
	return ep.endpoint(r), nil
}

// plug makes ep's veth pair and sets its namespace end up; on failure it leaves nothing.
func plug(r *record, ep *endpointRecord, mac net.HardwareAddr) error {
	ns, err := netns.GetFromPath(ep.Netns)
	if err != nil {
		return runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf("open netns %s: %w", ep.Netns, err))
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("netlink in netns %s: %w", ep.Netns, err)
	}
	defer h.Close()
	if _, err := h.LinkByName(ep.IfName); err == nil {
		return runtime.Classify(runtime.ErrConflict, fmt.Errorf("netns %s already has an interface %s", ep.Netns, ep.IfName))
	}
	bridge, err := netlink.LinkByName(r.Bridge)
	if err != nil {
		return fmt.Errorf("find bridge %s: %w", r.Bridge, err)
	}
	// A veth of this name can only be a leftover of this very endpoint (a crash between its
	// creation and the state's write).
	if err := deleteLink(ep.HostVeth); err != nil {
		return err
	}
	attrs := netlink.NewLinkAttrs()
	attrs.Name = ep.HostVeth
	attrs.MasterIndex = bridge.Attrs().Index
	attrs.MTU = r.MTU
	attrs.Flags = net.FlagUp
	veth := &netlink.Veth{LinkAttrs: attrs, PeerName: ep.IfName, PeerHardwareAddr: mac,
		PeerNamespace: netlink.NsFd(int(ns))}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("add veth %s: %w", ep.HostVeth, err)
	}
	if err := configurePeer(h, r, ep); err != nil {
		deleteLink(ep.HostVeth)
		return err
	}
	return nil
}

// configurePeer sets the namespace end's address, brings it up and adds the default route.
func configurePeer(h *netlink.Handle, r *record, ep *endpointRecord) error {
	peer, err := h.LinkByName(ep.IfName)
	if err != nil {
		return fmt.Errorf("find %s in netns: %w", ep.IfName, err)
	}
	addr := &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(ep.IP, r.Subnet.Bits()))}
	if err := h.AddrAdd(peer, addr); err != nil {
		return fmt.Errorf("address %s on %s: %w", addr.IPNet, ep.IfName, err)
	}
	if err := h.LinkSetUp(peer); err != nil {
		return fmt.Errorf("bring %s up: %w", ep.IfName, err)
	}
	if ep.Default {
		route := &netlink.Route{LinkIndex: peer.Attrs().Index, Gw: net.IP(r.Gateway.AsSlice())}
		if err := h.RouteAdd(route); err != nil {
			if errors.Is(err, unix.EEXIST) {
				return runtime.Classify(runtime.ErrConflict, fmt.Errorf("netns %s already has a default route", ep.Netns))
			}
			return fmt.Errorf("default route via %s: %w", r.Gateway, err)
		}
	}
	return nil
}

// Detach removes endpoint key from network: its veth pair is deleted and its address freed.
// A missing network or endpoint is no error.
func (m *Manager) Detach(network, key string) error {
	release, err := m.lock()
	if err != nil {
		return err
	}
	defer release()
	st, err := m.load()
	if err != nil {
		return err
	}
	r, ok := st.Networks[network]
	if !ok {
		return deleteLink(VethName(network, key))
	}
	veth := VethName(network, key)
	if ep, ok := r.Endpoints[key]; ok {
		veth = ep.HostVeth
	}
	if err := deleteLink(veth); err != nil {
		return fmt.Errorf("detach %s from network %s: %w", key, network, err)
	}
	if _, ok := r.Endpoints[key]; !ok {
		return nil
	}
	delete(r.Endpoints, key)
	return m.save(st)
}

// pruneEndpoints forgets the endpoints whose host veth is gone: their namespace was deleted,
// which deletes the pair, so their address is free again.
func pruneEndpoints(r *record) {
	for key, ep := range r.Endpoints {
		if _, err := netlink.LinkByName(ep.HostVeth); isLinkNotFound(err) {
			delete(r.Endpoints, key)
		}
	}
}

// deleteLink deletes the host link name; a missing one is no error.
func deleteLink(name string) error {
	link, err := netlink.LinkByName(name)
	if isLinkNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("find link %s: %w", name, err)
	}
	if err := netlink.LinkDel(link); err != nil && !isLinkNotFound(err) {
		return fmt.Errorf("delete link %s: %w", name, err)
	}
	return nil
}
