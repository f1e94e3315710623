package network

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/comp-dev/comp/runtime"
)

// udpIdle ends a UDP flow that carried nothing for this long, as docker-proxy does.
const udpIdle = 90 * time.Second

// dialTimeout bounds a TCP connection to the container.
const dialTimeout = 10 * time.Second

// Proxy is a userland proxy for a container's published ports, like docker-proxy: it listens
// on the host's addresses (127.0.0.1 included, which DNAT cannot reach without route_localnet)
// and forwards each TCP connection and each UDP flow to the container's address.
type Proxy struct {
	ctx     context.Context // ends at Close, cancelling dials to the container
	cancel  context.CancelFunc
	mu      sync.Mutex
	closed  bool
	closers map[io.Closer]struct{} // listeners, packet sockets and live connections
	wg      sync.WaitGroup
}

// Publish binds every spec's host address and forwards it to containerIP's port: HostIP ""
// is 0.0.0.0; HostPort "" or "0" is a random free port and "8000-8010" the first free port of
// the range. A taken port is ErrConflict naming the address. It returns the ports actually
// bound, in the order of specs; on error nothing stays bound.
func Publish(specs []runtime.PortSpec, containerIP netip.Addr) (*Proxy, []runtime.Port, error) {
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{ctx: ctx, cancel: cancel, closers: map[io.Closer]struct{}{}}
	ports := make([]runtime.Port, 0, len(specs))
	for _, s := range specs {
		port, err := p.publish(s, containerIP)
		if err != nil {
			p.Close()
			return nil, nil, err
		}
		ports = append(ports, port)
	}
	return p, ports, nil
}

func (p *Proxy) publish(s runtime.PortSpec, containerIP netip.Addr) (runtime.Port, error) {
	proto := strings.ToLower(s.Protocol)
	if proto == "" {
		proto = "tcp"
	}
	if proto != "tcp" && proto != "udp" {
		return runtime.Port{}, runtime.Classify(runtime.ErrNotImplemented,
			fmt.Errorf("publish port %d/%s: only tcp and udp are supported by the embedded runtime", s.ContainerPort, proto))
	}
	if s.ContainerPort == 0 {
		return runtime.Port{}, runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf("publish port: no container port"))
	}
	hostIP := s.HostIP
	if hostIP == "" {
		hostIP = "0.0.0.0"
	}
	if _, err := netip.ParseAddr(hostIP); err != nil {
		return runtime.Port{}, runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf("publish port: invalid host IP %q", s.HostIP))
	}
	first, last, err := portRange(s.HostPort)
	if err != nil {
		return runtime.Port{}, err
	}
	target := netip.AddrPortFrom(containerIP, s.ContainerPort)
	var lastErr error
	for port := first; ; port++ {
		addr := net.JoinHostPort(hostIP, strconv.Itoa(int(port)))
		bound, err := p.listen(proto, addr, target)
		if err == nil {
			return runtime.Port{HostIP: hostIP, HostPort: bound, ContainerPort: s.ContainerPort, Protocol: proto}, nil
		}
		lastErr = err
		if !errors.Is(err, runtime.ErrConflict) || port >= last {
			break
		}
	}
	return runtime.Port{}, lastErr
}

// portRange reads a HostPort: "" and "0" are 0-0 (any port), "N" is N-N, "A-B" is A-B.
func portRange(s string) (uint16, uint16, error) {
	if s == "" {
		return 0, 0, nil
	}
	lo, hi, isRange := strings.Cut(s, "-")
	first, err1 := strconv.ParseUint(lo, 10, 16)
	last := first
	var err2 error
	if isRange {
		last, err2 = strconv.ParseUint(hi, 10, 16)
	}
	if err1 != nil || err2 != nil || last < first || (isRange && first == 0) {
		return 0, 0, runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf("invalid host port %q", s))
	}
	return uint16(first), uint16(last), nil
}

// listen binds addr and starts forwarding to target; it returns the bound port.
func (p *Proxy) listen(proto, addr string, target netip.AddrPort) (uint16, error) {
	if proto == "udp" {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return 0, bindError(proto, addr, err)
		}
		conn := pc.(*net.UDPConn)
		if !p.track(conn) {
			return 0, net.ErrClosed
		}
		p.wg.Add(1)
		go p.serveUDP(conn, target)
		return uint16(conn.LocalAddr().(*net.UDPAddr).Port), nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return 0, bindError(proto, addr, err)
	}
	if !p.track(l) {
		return 0, net.ErrClosed
	}
	p.wg.Add(1)
	go p.serveTCP(l, target)
	return uint16(l.Addr().(*net.TCPAddr).Port), nil
}

func bindError(proto, addr string, err error) error {
	err = fmt.Errorf("bind %s %s: %w", proto, addr, err)
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return runtime.Classify(runtime.ErrConflict, err)
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return runtime.Classify(runtime.ErrInvalidArgument, err)
	}
	return err
}

// track registers c to be closed by Close; false when the proxy is closed already (c is
// closed then).
func (p *Proxy) track(c io.Closer) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.closers[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c io.Closer) {
	p.mu.Lock()
	delete(p.closers, c)
	p.mu.Unlock()
	c.Close()
}

func (p *Proxy) serveTCP(l net.Listener, target netip.AddrPort) {
	defer p.wg.Done()
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // EMFILE and the like: let it pass
			continue
		}
		if !p.track(c) {
			return
		}
		p.wg.Add(1)
		go p.forwardTCP(c.(*net.TCPConn), target)
	}
}

// forwardTCP copies both ways between the client and the container, passing on half-closes.
func (p *Proxy) forwardTCP(client *net.TCPConn, target netip.AddrPort) {
	defer p.wg.Done()
	defer p.untrack(client)
	d := net.Dialer{Timeout: dialTimeout}
	c, err := d.DialContext(p.ctx, "tcp", target.String())
	if err != nil {
		return
	}
	backend := c.(*net.TCPConn)
	if !p.track(backend) {
		return
	}
	defer p.untrack(backend)
	done := make(chan struct{})
	go func() {
		io.Copy(backend, client)
		backend.CloseWrite()
		close(done)
	}()
	io.Copy(client, backend)
	client.CloseWrite()
	<-done
}

// udpFlow is one client's datagrams to the container and back.
type udpFlow struct {
	backend *net.UDPConn
}

func (p *Proxy) serveUDP(front *net.UDPConn, target netip.AddrPort) {
	defer p.wg.Done()
	var mu sync.Mutex
	flows := map[netip.AddrPort]*udpFlow{}
	buf := make([]byte, 65535)
	for {
		n, from, err := front.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		mu.Lock()
		f := flows[from]
		if f == nil {
			backend, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(target))
			if err != nil || !p.track(backend) {
				mu.Unlock()
				continue
			}
			f = &udpFlow{backend: backend}
			flows[from] = f
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.replyUDP(front, f.backend, from)
				mu.Lock()
				delete(flows, from)
				mu.Unlock()
				p.untrack(f.backend)
			}()
		}
		mu.Unlock()
		f.backend.SetReadDeadline(time.Now().Add(udpIdle))
		f.backend.Write(buf[:n])
	}
}

// replyUDP sends the container's answers back to client until the flow is idle or closed.
func (p *Proxy) replyUDP(front, backend *net.UDPConn, client netip.AddrPort) {
	buf := make([]byte, 65535)
	for {
		backend.SetReadDeadline(time.Now().Add(udpIdle))
		n, err := backend.Read(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, net.ErrClosed) {
				return
			}
			continue // ECONNREFUSED from an ICMP error: the container may listen later
		}
		if _, err := front.WriteToUDPAddrPort(buf[:n], client); errors.Is(err, net.ErrClosed) {
			return
		}
	}
}

// Close stops listening, ends every forwarded connection and flow, and waits for them.
func (p *Proxy) Close() error {
	p.cancel()
	p.mu.Lock()
	p.closed = true
	closers := make([]io.Closer, 0, len(p.closers))
	for c := range p.closers {
		closers = append(closers, c)
	}
	p.mu.Unlock()
	for _, c := range closers {
		c.Close()
	}
	p.wg.Wait()
	return nil
}
