package dns

import (
	"bufio"
	"net/netip"
	"os"
	"strings"
)

// hostConf is what comp takes from a resolv.conf file.
type hostConf struct {
	nameservers []string // host:port
	search      []string
	options     []string
}

// readConf parses a resolv.conf file; a file that cannot be read gives an empty one, as for the
// C library.
func readConf(path string) hostConf {
	var c hostConf
	f, err := os.Open(path)
	if err != nil {
		return c
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = line[:i]
		}
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		switch fields[0] {
		case "nameserver":
			if a, err := netip.ParseAddr(fields[1]); err == nil {
				c.nameservers = append(c.nameservers, netip.AddrPortFrom(a, 53).String())
			}
		case "search", "domain": // the last of either wins
			c.search = append([]string(nil), fields[1:]...)
			if fields[0] == "domain" {
				c.search = c.search[:1]
			}
		case "options":
			c.options = append(c.options, fields[1:]...)
		}
	}
	return c
}

// Upstreams reads the nameservers of a resolv.conf file (the host's), as "address:53", for Start.
// Entries that are not IP addresses are skipped; a missing file gives none.
func Upstreams(resolvConf string) []string {
	return readConf(resolvConf).nameservers
}

// SearchOptions reads the search domains and options of a resolv.conf file (the host's), for
// ResolvConf when a service sets no dns_search or dns_opt.
func SearchOptions(resolvConf string) (search, options []string) {
	c := readConf(resolvConf)
	return c.search, c.options
}

// ResolvConf renders the resolv.conf a container gets: nameserver (the network's gateway), then
// the search domains and options when there are any (the host's, or dns_search / dns_opt).
func ResolvConf(nameserver string, search, options []string) string {
	var b strings.Builder
	b.WriteString("nameserver " + nameserver + "\n")
	if len(search) > 0 {
		b.WriteString("search " + strings.Join(search, " ") + "\n")
	}
	if len(options) > 0 {
		b.WriteString("options " + strings.Join(options, " ") + "\n")
	}
	return b.String()
}
