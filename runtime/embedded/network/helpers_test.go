package network

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/comp-dev/comp/runtime"
)

// requireRoot skips a test that needs root (bridges, namespaces, nftables), or fails it when
// CI=true: CI runs as root, so there a missing privilege is a broken machine.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Getuid() == 0 {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatal("the network tests need root (bridges, network namespaces, nftables) and CI runs as root")
	}
	t.Skip("the network tests need root (bridges, network namespaces, nftables)")
}

func randHex(n int) string {
	b := make([]byte, (n+1)/2)
	rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

// made holds the names of every link the tests make (bridges of the networks included): the
// test binary checks at its end that none is left, nor any rule naming one.
var made sync.Map

// uniqueName is a network name no other test (or comp on this host) uses.
func uniqueName(prefix string) string {
	name := prefix + "-" + randHex(8)
	made.Store(BridgeName(name), true)
	return name
}

// TestMain runs the tests, then fails the run if any of them left a link or a firewall rule
// behind.
func TestMain(m *testing.M) {
	code := m.Run()
	if os.Getuid() == 0 {
		if left := leftovers(); len(left) > 0 {
			fmt.Fprintf(os.Stderr, "the tests left behind:\n  %s\n", strings.Join(left, "\n  "))
			code = 1
		}
	}
	os.Exit(code)
}

func leftovers() []string {
	var left []string
	deadline := time.Now().Add(10 * time.Second) // veths of deleted namespaces go asynchronously
	made.Range(func(k, _ any) bool {
		name := k.(string)
		for {
			_, err := netlink.LinkByName(name)
			if err != nil {
				break
			}
			if time.Now().After(deadline) {
				left = append(left, "link "+name)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		rules, err := findRules(name)
		if err != nil {
			left = append(left, err.Error())
		}
		left = append(left, rules...)
		return true
	})
	return left
}

// newManager returns a Manager on a fresh folder; at the end of the test every endpoint is
// detached and every network removed, even when the test failed half-way.
func newManager(t *testing.T) *Manager {
	t.Helper()
	return managerAt(t, t.TempDir())
}

func managerAt(t *testing.T, dir string) *Manager {
	t.Helper()
	m, err := NewManager(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		infos, err := m.List()
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		for _, info := range infos {
			for key, ep := range info.Endpoints {
				made.Store(ep.HostVeth, true)
				if err := m.Detach(info.Name, key); err != nil {
					t.Errorf("cleanup: %v", err)
				}
			}
			if err := m.Remove(info.Name); err != nil && !isNotFound(err) {
				t.Errorf("cleanup: %v", err)
			}
		}
	})
	return m
}

func isNotFound(err error) bool { return errors.Is(err, runtime.ErrNotFound) }

func create(t *testing.T, m *Manager, spec runtime.NetworkSpec) Info {
	t.Helper()
	info, err := m.Create(spec)
	if err != nil {
		t.Fatalf("create network %s: %v", spec.Name, err)
	}
	return info
}

// newNetns makes a namespace that is deleted at the end of the test.
func newNetns(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "netns")
	if err := NewNetns(path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := DeleteNetns(path); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return path
}

// attach connects a new namespace to network and returns the namespace and its endpoint.
func attach(t *testing.T, m *Manager, network string, req AttachRequest) (string, Endpoint) {
	t.Helper()
	ns := newNetns(t)
	key := "c-" + randHex(12)
	made.Store(VethName(network, key), true)
	ep, err := m.Attach(network, key, ns, req)
	if err != nil {
		t.Fatalf("attach to %s: %v", network, err)
	}
	return ns, ep
}

// inNetns runs fn on a thread inside the namespace at path. The thread is never unlocked,
// so it ends with the goroutine and no other goroutine ever runs in that namespace.
func inNetns(path string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		goruntime.LockOSThread()
		ns, err := netns.GetFromPath(path)
		if err != nil {
			errc <- err
			return
		}
		defer ns.Close()
		if err := netns.Set(ns); err != nil {
			errc <- err
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// serveEcho starts a TCP or UDP echo server inside the namespace at nsPath (host namespace
// when ""), listening on addr, and returns its address. It stops at the end of the test.
func serveEcho(t *testing.T, nsPath, proto, addr string) netip.AddrPort {
	t.Helper()
	var l net.Listener
	var pc net.PacketConn
	listen := func() (err error) {
		if proto == "udp" {
			pc, err = net.ListenPacket("udp", addr)
		} else {
			l, err = net.Listen("tcp", addr)
		}
		return err
	}
	var err error
	if nsPath == "" {
		err = listen()
	} else {
		err = inNetns(nsPath, listen)
	}
	if err != nil {
		t.Fatalf("listen %s %s: %v", proto, addr, err)
	}
	if proto == "udp" {
		t.Cleanup(func() { pc.Close() })
		go func() {
			buf := make([]byte, 2048)
			for {
				n, from, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				pc.WriteTo(buf[:n], from)
			}
		}()
		return netip.MustParseAddrPort(pc.LocalAddr().String())
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return netip.MustParseAddrPort(l.Addr().String())
}

// serveRemoteAddr starts a TCP server inside nsPath that writes each client's address and
// closes.
func serveRemoteAddr(t *testing.T, nsPath, addr string) netip.AddrPort {
	t.Helper()
	var l net.Listener
	if err := inNetns(nsPath, func() (err error) { l, err = net.Listen("tcp", addr); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			fmt.Fprint(c, c.RemoteAddr().String())
			c.Close()
		}
	}()
	return netip.MustParseAddrPort(l.Addr().String())
}

// echo dials addr from the namespace at nsPath ("" for the host), sends a line and expects it
// back within timeout.
func echo(nsPath, proto string, addr netip.AddrPort, timeout time.Duration) error {
	var c net.Conn
	dial := func() (err error) {
		c, err = net.DialTimeout(proto, addr.String(), timeout)
		return err
	}
	var err error
	if nsPath == "" {
		err = dial()
	} else {
		err = inNetns(nsPath, dial)
	}
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	msg := []byte("ping " + randHex(8) + "\n")
	if _, err := c.Write(msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if !bytes.Equal(got, msg) {
		return fmt.Errorf("echo: sent %q, got %q", msg, got)
	}
	return nil
}

// udpSink listens for datagrams inside nsPath and reports each sender.
func udpSink(t *testing.T, nsPath, addr string) (netip.AddrPort, <-chan netip.AddrPort) {
	t.Helper()
	var pc *net.UDPConn
	if err := inNetns(nsPath, func() error {
		c, err := net.ListenPacket("udp", addr)
		if err == nil {
			pc = c.(*net.UDPConn)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	got := make(chan netip.AddrPort, 16)
	go func() {
		buf := make([]byte, 2048)
		for {
			_, from, err := pc.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			got <- from
		}
	}()
	return netip.MustParseAddrPort(pc.LocalAddr().String()), got
}

// sendUDP sends a few datagrams to addr from nsPath.
func sendUDP(t *testing.T, nsPath string, addr netip.AddrPort) {
	t.Helper()
	var c net.Conn
	if err := inNetns(nsPath, func() (err error) { c, err = net.Dial("udp", addr.String()); return err }); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range 3 {
		c.Write([]byte("hello"))
	}
}

// readFrom dials addr from nsPath and returns everything the server wrote.
func readFrom(nsPath string, addr netip.AddrPort, timeout time.Duration) (string, error) {
	var c net.Conn
	if err := inNetns(nsPath, func() (err error) {
		c, err = net.DialTimeout("tcp", addr.String(), timeout)
		return err
	}); err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	b, err := io.ReadAll(c)
	return string(b), err
}

// freeTestPrefix returns a /30 of 198.18.0.0/15 (the benchmarking range) that no host route
// overlaps, for interfaces a test makes.
func freeTestPrefix(t *testing.T) netip.Prefix {
	t.Helper()
	routes, err := hostRoutes()
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		b := make([]byte, 2)
		rand.Read(b)
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18 + b[0]&1, b[1], byte(4 * (b[0] >> 2))}), 30)
		if !overlapsAny(p, routes) {
			return p
		}
	}
	t.Fatal("no free /30 in 198.18.0.0/15")
	return netip.Prefix{}
}

// addDummy makes an interface holding addr (a host address of no route's subnet), deleted at
// the end of the test. It is a bridge without ports: not every kernel has the dummy driver.
func addDummy(t *testing.T, addr netip.Prefix) {
	t.Helper()
	attrs := netlink.NewLinkAttrs()
	attrs.Name = "ctd" + randHex(8)
	made.Store(attrs.Name, true)
	attrs.Flags = net.FlagUp
	link := &netlink.Bridge{LinkAttrs: attrs}
	if err := netlink.LinkAdd(link); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := netlink.LinkDel(link); err != nil {
			t.Errorf("cleanup: delete %s: %v", attrs.Name, err)
		}
	})
	if err := netlink.AddrAdd(link, &netlink.Addr{IPNet: ipNet(addr)}); err != nil {
		t.Fatal(err)
	}
}

// addOutside makes a namespace routed from the host (not bridged) through a veth pair with the
// /30 p: the host end has p's first address and the namespace end the second, which it returns.
// The namespace has no route back to comp's subnets: only masqueraded traffic gets answers.
func addOutside(t *testing.T, p netip.Prefix) (string, netip.Addr) {
	t.Helper()
	ns := newNetns(t)
	hostAddr := p.Addr().Next()
	nsAddr := hostAddr.Next()
	h, err := netns.GetFromPath(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	attrs := netlink.NewLinkAttrs()
	attrs.Name = "cto" + randHex(8)
	made.Store(attrs.Name, true)
	attrs.Flags = net.FlagUp
	veth := &netlink.Veth{LinkAttrs: attrs, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(h))}
	if err := netlink.LinkAdd(veth); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := deleteLink(attrs.Name); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	if err := netlink.AddrAdd(veth, &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(hostAddr, p.Bits()))}); err != nil {
		t.Fatal(err)
	}
	nh, err := netlink.NewHandleAt(h)
	if err != nil {
		t.Fatal(err)
	}
	defer nh.Close()
	peer, err := nh.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	if err := nh.AddrAdd(peer, &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(nsAddr, p.Bits()))}); err != nil {
		t.Fatal(err)
	}
	if err := nh.LinkSetUp(peer); err != nil {
		t.Fatal(err)
	}
	return ns, nsAddr
}

// rulesMentioning lists the nftables rules, in every table of every family, whose comment or
// compared data contains needle (a bridge name).
func rulesMentioning(t *testing.T, needle string) []string {
	t.Helper()
	rules, err := findRules(needle)
	if err != nil {
		t.Fatal(err)
	}
	return rules
}

func findRules(needle string) ([]string, error) {
	c, err := nftables.New()
	if err != nil {
		return nil, err
	}
	chains, err := c.ListChains()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, ch := range chains {
		rules, err := c.GetRules(ch.Table, ch)
		if err != nil {
			return nil, fmt.Errorf("list rules of %s %s: %w", ch.Table.Name, ch.Name, err)
		}
		for _, r := range rules {
			hit := strings.Contains(ruleComment(r), needle)
			for _, e := range r.Exprs {
				if cmp, ok := e.(*expr.Cmp); ok && bytes.Contains(cmp.Data, []byte(needle)) {
					hit = true
				}
			}
			if hit {
				out = append(out, fmt.Sprintf("rule: family %d table %s chain %s handle %d %q",
					ch.Table.Family, ch.Table.Name, ch.Name, r.Handle, ruleComment(r)))
			}
		}
	}
	return out, nil
}

// dockerDropsForward tells whether iptables-nft's FORWARD chain has policy drop (dockerd's).
func dockerDropsForward(t *testing.T) bool {
	t.Helper()
	c, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	ch, _, err := dockerForward(c)
	if err != nil {
		t.Fatal(err)
	}
	return ch != nil && ch.Policy != nil && *ch.Policy == nftables.ChainPolicyDrop
}

func linkExists(t *testing.T, name string) bool {
	t.Helper()
	_, err := netlink.LinkByName(name)
	if err != nil && !isLinkNotFound(err) {
		t.Fatal(err)
	}
	return err == nil
}
