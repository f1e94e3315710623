package main

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/comp-dev/comp/runtime"
)

type portOptions struct {
	protocol string
	index    int
}

func newPortCmd(g *globalOptions) *cobra.Command {
	o := &portOptions{}
	cmd := &cobra.Command{
		Use:   "port [OPTIONS] SERVICE PRIVATE_PORT",
		Short: "Print the public port for a port binding",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPort(cmd.Context(), g, o, args[0], args[1])
		},
	}
	cmd.Flags().StringVar(&o.protocol, "protocol", "tcp", "tcp or udp")
	cmd.Flags().IntVar(&o.index, "index", 0, "Index of the container if service has multiple replicas (default: the first running one)")
	return cmd
}

func runPort(ctx context.Context, g *globalOptions, o *portOptions, service, private string) error {
	port, proto, err := parsePrivatePort(private, o.protocol)
	if err != nil {
		return err
	}
	name, _, rt, err := g.openProject(ctx, []string{service})
	if err != nil {
		return err
	}
	defer rt.Close()
	c, err := serviceContainer(ctx, rt, name, service, o.index)
	if err != nil {
		return err
	}
	addr, err := publishedAddress(c, port, proto)
	if err != nil {
		return err
	}
	fmt.Fprintln(g.streams.Out, addr)
	return nil
}

// parsePrivatePort reads PRIVATE_PORT, which may carry its protocol ("53/udp").
func parsePrivatePort(s, protocol string) (uint16, string, error) {
	num, proto, ok := strings.Cut(s, "/")
	if !ok {
		proto = protocol
	}
	proto = strings.ToLower(proto)
	switch proto {
	case "tcp", "udp", "sctp":
	default:
		return 0, "", fmt.Errorf("invalid protocol %q: use tcp or udp", proto)
	}
	n, err := strconv.ParseUint(num, 10, 16)
	if err != nil || n == 0 {
		return 0, "", fmt.Errorf("invalid port %q: use a port number from 1 to 65535", s)
	}
	return uint16(n), proto, nil
}

// publishedAddress is where c publishes its port/proto, `HOST:PORT` (0.0.0.0 for all
// interfaces, IPv6 in brackets), preferring IPv4 when it is published on both.
func publishedAddress(c runtime.Container, port uint16, proto string) (string, error) {
	var found *runtime.Port
	for i, p := range c.Ports {
		if p.ContainerPort != port || !strings.EqualFold(defaultProto(p.Protocol), proto) || p.HostPort == 0 {
			continue
		}
		if found == nil || (strings.Contains(hostIP(*found), ":") && !strings.Contains(hostIP(p), ":")) {
			found = &c.Ports[i]
		}
	}
	if found == nil {
		return "", fmt.Errorf("no port %d/%s for container %s", port, proto, c.Name)
	}
	return net.JoinHostPort(hostIP(*found), strconv.Itoa(int(found.HostPort))), nil
}

func defaultProto(p string) string {
	if p == "" {
		return "tcp"
	}
	return p
}
