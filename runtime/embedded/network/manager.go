// Package network gives the embedded runtime Docker-like bridge networks: a Linux bridge per
// network with its gateway address, the nftables rules that masquerade and isolate it, veth
// endpoints into containers' network namespaces, and a userland proxy for published ports.
// Its state is a JSON file under the Manager's folder, so that several comp processes (and a
// restarted one) agree on subnets and addresses.
package network

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"golang.org/x/sys/unix"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/comp-dev/comp/runtime"
	"github.com/comp-dev/comp/runtime/embedded/state"
)

// BridgePrefix starts the name of every bridge comp makes; the rest is 8 hex digits of a hash
// of the network's name.
const BridgePrefix = "comp-"

// DefaultPool is where subnets are allocated from, one /24 at a time, when a network's IPAM
// names none.
var DefaultPool = netip.MustParsePrefix("10.89.0.0/16")

// mtuOption is Docker's driver option for the MTU of the bridge and its veths.
const mtuOption = "com.docker.network.driver.mtu"

// Manager owns comp's bridge networks, their address allocations and firewall rules. Its state
// lives under its folder and every change happens under a flock there, so Managers of several
// processes on the same folder agree. Its methods are safe for concurrent use.
type Manager struct {
	dir string
}

// Info describes a network.
type Info struct {
	Name     string
	Bridge   string
	Subnet   netip.Prefix
	Gateway  netip.Addr
	Internal bool
	Labels   map[string]string
	// Endpoints are the attached endpoints, by key (the container ID).
	Endpoints map[string]Endpoint
}

// record is a network as the state file keeps it.
type record struct {
	Name     string
	Bridge   string
	Subnet   netip.Prefix
	Gateway  netip.Addr
	IPRange  netip.Prefix `json:",omitzero"`
	Internal bool
	MTU      int `json:",omitempty"`
	Labels   map[string]string
	Created  time.Time
	// Endpoints by key.
	Endpoints map[string]*endpointRecord
}

// endpointRecord is an endpoint as the state file keeps it.
type endpointRecord struct {
	IfName   string
	IP       netip.Addr
	MAC      string
	HostVeth string
	Netns    string
	Default  bool `json:",omitempty"`
}

// stateFile is the whole state of a Manager's folder.
type stateFile struct {
	Networks map[string]*record
}

// NewManager returns the Manager whose state lives in stateDir (created if missing). Bridges
// do not survive a reboot, but the state may: Create and Attach rebuild what is missing.
func NewManager(stateDir string) (*Manager, error) {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("network state: %w", err)
	}
	return &Manager{dir: stateDir}, nil
}

func (m *Manager) statePath() string { return filepath.Join(m.dir, "networks.json") }

// lock serialises changes of the state and of the host's links and rules.
func (m *Manager) lock() (func(), error) {
	release, err := state.Lock(filepath.Join(m.dir, "lock"), true)
	if err != nil {
		return nil, fmt.Errorf("lock network state: %w", err)
	}
	return release, nil
}

func (m *Manager) load() (*stateFile, error) {
	st := &stateFile{}
	if err := state.ReadJSON(m.statePath(), st); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read network state: %w", err)
	}
	if st.Networks == nil {
		st.Networks = map[string]*record{}
	}
	for _, r := range st.Networks {
		if r.Endpoints == nil {
			r.Endpoints = map[string]*endpointRecord{}
		}
	}
	return st, nil
}

func (m *Manager) save(st *stateFile) error {
	if err := state.WriteJSON(m.statePath(), st); err != nil {
		return fmt.Errorf("write network state: %w", err)
	}
	return nil
}

// BridgeName is the bridge of network name: BridgePrefix and 8 hex digits of its hash.
func BridgeName(name string) string {
	sum := sha256.Sum256([]byte(name))
	return BridgePrefix + hex.EncodeToString(sum[:])[:8]
}

func (r *record) info() Info {
	eps := make(map[string]Endpoint, len(r.Endpoints))
	for key, e := range r.Endpoints {
		eps[key] = e.endpoint(r)
	}
	return Info{
		Name: r.Name, Bridge: r.Bridge, Subnet: r.Subnet, Gateway: r.Gateway,
		Internal: r.Internal, Labels: r.Labels, Endpoints: eps,
	}
}

// CheckSpec refuses what Create cannot make of spec (another driver, IPv6, a malformed MTU or
// subnet) without touching anything, so that comp can ask before it creates any object.
func CheckSpec(spec runtime.NetworkSpec) error {
	_, _, err := parseSpec(spec)
	return err
}

// parseSpec checks spec as CheckSpec does and returns its MTU (0: the default) and its pool
// (nil: one from DefaultPool).
func parseSpec(spec runtime.NetworkSpec) (mtu int, p *pool, err error) {
	if err := state.CheckName("network", spec.Name); err != nil {
		return 0, nil, err
	}
	if spec.Driver != "" && spec.Driver != "bridge" {
		return 0, nil, runtime.Classify(runtime.ErrInvalidArgument,
			fmt.Errorf("create network %s: driver %q is not supported by the embedded runtime (only bridge)", spec.Name, spec.Driver))
	}
	if spec.EnableIPv6 {
		return 0, nil, runtime.Classify(runtime.ErrNotImplemented,
			fmt.Errorf("create network %s: IPv6 (enable_ipv6) is not supported by the embedded runtime yet: leave it out, or use --runtime docker", spec.Name))
	}
	if mtu, err = parseMTU(spec.DriverOpts); err != nil {
		return 0, nil, fmt.Errorf("create network %s: %w", spec.Name, err)
	}
	if p, err = ipv4Pool(spec.IPAM); err != nil {
		return 0, nil, fmt.Errorf("create network %s: %w", spec.Name, err)
	}
	return mtu, p, nil
}

// Create makes network spec.Name: a bridge with its gateway address up, and the rules that
// masquerade its traffic leaving the host (unless Internal) and isolate it from other comp
// networks. The subnet is spec.IPAM's first IPv4 pool, else the first /24 of DefaultPool that
// overlaps no route of the host and no other comp network. Creating an existing network
// rebuilds what is missing (after a reboot, a firewall reload) and returns it.
func (m *Manager) Create(spec runtime.NetworkSpec) (Info, error) {
	mtu, pool, err := parseSpec(spec)
	if err != nil {
		return Info{}, err
	}

	release, err := m.lock()
	if err != nil {
		return Info{}, err
	}
	defer release()
	st, err := m.load()
	if err != nil {
		return Info{}, err
	}

	if r, ok := st.Networks[spec.Name]; ok {
		if pool != nil && pool.subnet != r.Subnet {
			return Info{}, runtime.Classify(runtime.ErrConflict,
				fmt.Errorf("create network %s: it exists with subnet %s, not %s", spec.Name, r.Subnet, pool.subnet))
		}
		if spec.Internal != r.Internal {
			return Info{}, runtime.Classify(runtime.ErrConflict,
				fmt.Errorf("create network %s: it exists with internal=%t", spec.Name, r.Internal))
		}
		if err := realize(r, false); err != nil {
			return Info{}, fmt.Errorf("create network %s: %w", spec.Name, err)
		}
		return r.info(), nil
	}

	r := &record{
		Name: spec.Name, Bridge: BridgeName(spec.Name), Internal: spec.Internal, MTU: mtu,
		Labels: spec.Labels, Created: time.Now().UTC(), Endpoints: map[string]*endpointRecord{},
	}
	for _, other := range st.Networks {
		if other.Bridge == r.Bridge {
			return Info{}, runtime.Classify(runtime.ErrConflict,
				fmt.Errorf("create network %s: its bridge name %s is taken by network %s", spec.Name, r.Bridge, other.Name))
		}
	}
	if pool != nil {
		for _, other := range st.Networks {
			if other.Subnet.Overlaps(pool.subnet) {
				return Info{}, runtime.Classify(runtime.ErrConflict,
					fmt.Errorf("create network %s: subnet %s overlaps network %s (%s)", spec.Name, pool.subnet, other.Name, other.Subnet))
			}
		}
		r.Subnet, r.Gateway, r.IPRange = pool.subnet, pool.gateway, pool.ipRange
	} else {
		// Comp processes with other state folders (tests, COMP_ROOT) allocate from the same
		// pool: a machine-wide lock keeps two of them from taking one free subnet at once,
		// until the bridge (and its route) exists.
		unlockPool, err := lockPool()
		if err != nil {
			return Info{}, err
		}
		defer unlockPool()
		subnet, err := freeSubnet(st)
		if err != nil {
			return Info{}, fmt.Errorf("create network %s: %w", spec.Name, err)
		}
		r.Subnet, r.Gateway = subnet, subnet.Addr().Next()
	}

	if err := realize(r, true); err != nil {
		unrealize(r)
		return Info{}, fmt.Errorf("create network %s: %w", spec.Name, err)
	}
	st.Networks[r.Name] = r
	if err := m.save(st); err != nil {
		unrealize(r)
		return Info{}, fmt.Errorf("create network %s: %w", spec.Name, err)
	}
	return r.info(), nil
}

// Get returns network name, or ErrNotFound.
func (m *Manager) Get(name string) (Info, error) {
	st, err := m.load()
	if err != nil {
		return Info{}, err
	}
	r, ok := st.Networks[name]
	if !ok {
		return Info{}, runtime.Classify(runtime.ErrNotFound, fmt.Errorf("no such network: %s", name))
	}
	return r.info(), nil
}

// List returns every network, sorted by name.
func (m *Manager) List() ([]Info, error) {
	st, err := m.load()
	if err != nil {
		return nil, err
	}
	out := make([]Info, 0, len(st.Networks))
	for _, r := range st.Networks {
		out = append(out, r.info())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Restore rebuilds what is missing of every recorded network: its bridge after a reboot, its
// rules after a firewall reload or after dockerd started (and set FORWARD's policy to drop).
// Create and Attach do the same for one network; a supervisor calls Restore when it starts.
func (m *Manager) Restore() error {
	release, err := m.lock()
	if err != nil {
		return err
	}
	defer release()
	st, err := m.load()
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range st.Networks {
		if err := realize(r, false); err != nil {
			errs = append(errs, fmt.Errorf("restore network %s: %w", r.Name, err))
		}
	}
	return errors.Join(errs...)
}

// Remove deletes network name: its bridge, its rules and its state. It is ErrNotFound when
// there is no such network and ErrConflict while endpoints remain (an endpoint whose host veth
// is gone, because its namespace was deleted, no longer counts).
func (m *Manager) Remove(name string) error {
	release, err := m.lock()
	if err != nil {
		return err
	}
	defer release()
	st, err := m.load()
	if err != nil {
		return err
	}
	r, ok := st.Networks[name]
	if !ok {
		return runtime.Classify(runtime.ErrNotFound, fmt.Errorf("no such network: %s", name))
	}
	pruneEndpoints(r)
	if len(r.Endpoints) > 0 {
		keys := make([]string, 0, len(r.Endpoints))
		for k := range r.Endpoints {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return runtime.Classify(runtime.ErrConflict,
			fmt.Errorf("remove network %s: it has active endpoints: %s", name, strings.Join(keys, ", ")))
	}
	if err := unrealize(r); err != nil {
		return fmt.Errorf("remove network %s: %w", name, err)
	}
	delete(st.Networks, name)
	return m.save(st)
}

// realize makes the host match r: the bridge with its gateway address, up, its rules, and IP
// forwarding. fresh means r is new: a link or rules left with its bridge's name by a lost state
// are removed first.
func realize(r *record, fresh bool) error {
	link, err := netlink.LinkByName(r.Bridge)
	if err != nil && !isLinkNotFound(err) {
		return fmt.Errorf("find bridge %s: %w", r.Bridge, err)
	}
	if link != nil && (fresh || link.Type() != "bridge") {
		if err := netlink.LinkDel(link); err != nil {
			return fmt.Errorf("delete stale link %s: %w", r.Bridge, err)
		}
		link = nil
	}
	if fresh {
		if err := removeRules(r.Bridge); err != nil {
			return err
		}
	}
	if link == nil {
		attrs := netlink.NewLinkAttrs()
		attrs.Name = r.Bridge
		attrs.MTU = r.MTU
		// A fixed address: a bridge without one takes the lowest of its ports', so it would
		// change as containers come and go, and the containers' ARP entries for the gateway
		// would point nowhere until they expire.
		attrs.HardwareAddr = bridgeMAC(r.Gateway)
		if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: attrs}); err != nil {
			return fmt.Errorf("add bridge %s: %w", r.Bridge, err)
		}
		if link, err = netlink.LinkByName(r.Bridge); err != nil {
			return fmt.Errorf("find bridge %s: %w", r.Bridge, err)
		}
	}
	addr := &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(r.Gateway, r.Subnet.Bits()))}
	if err := netlink.AddrReplace(link, addr); err != nil {
		return fmt.Errorf("address %s on bridge %s: %w", addr.IPNet, r.Bridge, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("bring bridge %s up: %w", r.Bridge, err)
	}
	if err := ensureRules(r); err != nil {
		return err
	}
	if !r.Internal {
		if err := enableForwarding(); err != nil {
			return err
		}
	}
	return nil
}

// unrealize removes r's rules and bridge; missing ones are no error.
func unrealize(r *record) error {
	errRules := removeRules(r.Bridge)
	var errLink error
	if link, err := netlink.LinkByName(r.Bridge); err == nil {
		if err := netlink.LinkDel(link); err != nil && !isLinkNotFound(err) {
			errLink = fmt.Errorf("delete bridge %s: %w", r.Bridge, err)
		}
	} else if !isLinkNotFound(err) {
		errLink = fmt.Errorf("find bridge %s: %w", r.Bridge, err)
	}
	return errors.Join(errRules, errLink)
}

// enableForwarding sets net.ipv4.ip_forward, which routing out of the bridge needs.
func enableForwarding() error {
	const path = "/proc/sys/net/ipv4/ip_forward"
	if b, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(b)) == "1" {
		return nil
	}
	if err := os.WriteFile(path, []byte("1"), 0o644); err != nil {
		return fmt.Errorf("enable IPv4 forwarding: %w", err)
	}
	return nil
}

func parseMTU(opts map[string]string) (int, error) {
	v, ok := opts[mtuOption]
	if !ok || v == "" {
		return 0, nil
	}
	mtu, err := strconv.Atoi(v)
	if err != nil || mtu < 68 || mtu > 65535 {
		return 0, runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf("invalid %s %q", mtuOption, v))
	}
	return mtu, nil
}

func isLinkNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	// ENODEV: the link went between finding and deleting it (the kernel removes a veth whose
	// peer's namespace is destroyed, asynchronously).
	return errors.As(err, &nf) || errors.Is(err, unix.ENODEV)
}

// bridgeMAC is the fixed address of a bridge whose gateway is gw: locally administered,
// 02:42:<gateway>, as for endpoints, so it never collides with one (gateways take no endpoint).
func bridgeMAC(gw netip.Addr) net.HardwareAddr {
	b := gw.As4()
	return net.HardwareAddr{0x02, 0x42, b[0], b[1], b[2], b[3]}
}
