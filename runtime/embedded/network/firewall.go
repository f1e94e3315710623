package network

import (
	"errors"
	"fmt"
	"golang.org/x/sys/unix"
	"net"
	"os"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
)

// The firewall of a network is two sets of nftables rules, each tagged with a comment
// "comp:<bridge>:<role>" so that they are found again and removed exactly:
//
//   - in comp's own table (ip comp_net), the decisions: drop what enters the bridge from elsewhere
//     unless it answers the bridge's own traffic; for an internal network also drop what leaves
//     it and what it sends to the host's addresses other than its gateway; otherwise masquerade
//     what leaves it. Its chains have policy accept: they only ever drop or NAT.
//   - in iptables-nft's "ip filter" FORWARD chain when there is one (dockerd makes it, with
//     policy drop, and br_netfilter makes even bridge-local traffic cross it): accept everything
//     in or out of the bridge. A packet must be accepted by every base chain at its hook, so
//     these accepts let through only what comp's own table did not drop. They are written the
//     way iptables-nft writes `-i BRIDGE -j ACCEPT` (with a comment), so iptables still reads the
//     chain, and placed just after Docker's DOCKER-USER jump so that a user's rules there win.

// Table is comp's own nftables table (family ip).
const Table = "comp_net"

const (
	chainForward     = "forward"
	chainInput       = "input"
	chainPostrouting = "postrouting"
)

var compTable = &nftables.Table{Name: Table, Family: nftables.TableFamilyIPv4}

// fwRule is one wanted rule.
type fwRule struct {
	chain *nftables.Chain
	tag   string
	exprs []expr.Any
}

// ruleTag is the comment of bridge's rule role.
func ruleTag(bridge, role string) string { return "comp:" + bridge + ":" + role }

// ruleComment is the comment of rule, "" if none.
func ruleComment(r *nftables.Rule) string {
	s, _ := userdata.GetString(r.UserData, userdata.TypeComment)
	return s
}

// ownChains adds comp's table and its base chains to c's batch (a no-op for existing ones).
func ownChains(c *nftables.Conn) (forward, input, postrouting *nftables.Chain) {
	accept := nftables.ChainPolicyAccept
	c.AddTable(compTable)
	forward = c.AddChain(&nftables.Chain{Name: chainForward, Table: compTable, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &accept})
	input = c.AddChain(&nftables.Chain{Name: chainInput, Table: compTable, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter, Policy: &accept})
	postrouting = c.AddChain(&nftables.Chain{Name: chainPostrouting, Table: compTable, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource, Policy: &accept})
	return forward, input, postrouting
}

// dockerForward finds iptables-nft's "ip filter" FORWARD base chain, nil when there is none,
// and the handle of its jump to DOCKER-USER (0 when there is none).
func dockerForward(c *nftables.Conn) (*nftables.Chain, uint64, error) {
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return nil, 0, fmt.Errorf("list nftables chains: %w", err)
	}
	var fwd *nftables.Chain
	for _, ch := range chains {
		if ch.Table != nil && ch.Table.Name == "filter" && ch.Name == "FORWARD" &&
			ch.Hooknum != nil && *ch.Hooknum == *nftables.ChainHookForward {
			fwd = ch
			break
		}
	}
	if fwd == nil {
		return nil, 0, nil
	}
	rules, err := c.GetRules(fwd.Table, fwd)
	if err != nil {
		return nil, 0, fmt.Errorf("list rules of ip filter FORWARD: %w", err)
	}
	for _, r := range rules {
		for _, e := range r.Exprs {
			if v, ok := e.(*expr.Verdict); ok && v.Kind == expr.VerdictJump && v.Chain == "DOCKER-USER" {
				return fwd, r.Handle, nil
			}
		}
	}
	return fwd, 0, nil
}

// wantedRules lists the rules network r needs; docker is nil when there is no iptables-nft
// FORWARD chain.
func wantedRules(r *record, forward, input, postrouting, docker *nftables.Chain) []fwRule {
	br := r.Bridge
	var out []fwRule
	add := func(chain *nftables.Chain, role string, exprs ...[]expr.Any) {
		var all []expr.Any
		for _, e := range exprs {
			all = append(all, e...)
		}
		out = append(out, fwRule{chain: chain, tag: ruleTag(br, role), exprs: all})
	}
	drop := []expr.Any{&expr.Counter{}, &expr.Verdict{Kind: expr.VerdictDrop}}
	accept := []expr.Any{&expr.Counter{}, &expr.Verdict{Kind: expr.VerdictAccept}}

	if r.Internal {
		add(forward, "in", ifname(expr.MetaKeyOIFNAME, expr.CmpOpEq, br), ifname(expr.MetaKeyIIFNAME, expr.CmpOpNeq, br), drop)
		add(forward, "out", ifname(expr.MetaKeyIIFNAME, expr.CmpOpEq, br), ifname(expr.MetaKeyOIFNAME, expr.CmpOpNeq, br), drop)
		add(input, "host", ifname(expr.MetaKeyIIFNAME, expr.CmpOpEq, br), ipAddr(16, expr.CmpOpNeq, r.Gateway.AsSlice()), drop)
	} else {
		add(forward, "in", ifname(expr.MetaKeyOIFNAME, expr.CmpOpEq, br), ifname(expr.MetaKeyIIFNAME, expr.CmpOpNeq, br), notReply(), drop)
		add(postrouting, "masq", saddrIn(r), ifname(expr.MetaKeyOIFNAME, expr.CmpOpNeq, br),
			[]expr.Any{&expr.Counter{}, &expr.Masq{}})
	}
	if docker != nil {
		add(docker, "docker-out", ifname(expr.MetaKeyIIFNAME, expr.CmpOpEq, br), accept)
		add(docker, "docker-in", ifname(expr.MetaKeyOIFNAME, expr.CmpOpEq, br), accept)
	}
	return out
}

// ifname matches the input or output interface's name, as iptables-nft writes -i/-o.
func ifname(key expr.MetaKey, op expr.CmpOp, name string) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: key, Register: 1},
		&expr.Cmp{Op: op, Register: 1, Data: append([]byte(name), 0)},
	}
}

// ipAddr compares the IPv4 address at offset (12 source, 16 destination) of the header.
func ipAddr(offset uint32, op expr.CmpOp, addr []byte) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4},
		&expr.Cmp{Op: op, Register: 1, Data: addr},
	}
}

// saddrIn matches packets from r's subnet.
func saddrIn(r *record) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: net.CIDRMask(r.Subnet.Bits(), 32), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: r.Subnet.Addr().AsSlice()},
	}
}

// notReply matches packets of a connection that is neither established nor related.
func notReply() []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED),
			Xor:  make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: make([]byte, 4)},
	}
}

// ensureRules adds the rules of r that are missing (a firewall reload or a dockerd started
// after comp flushes them); the ones present are left alone.
func ensureRules(r *record) error {
	unlock, err := lockFirewall()
	if err != nil {
		return err
	}
	defer unlock()
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	forward, input, postrouting := ownChains(c)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("create nftables table %s: %w", Table, err)
	}
	docker, dockerUser, err := dockerForward(c)
	if err != nil {
		return err
	}
	present := map[string]bool{}
	for _, ch := range []*nftables.Chain{forward, input, postrouting, docker} {
		if ch == nil {
			continue
		}
		rules, err := c.GetRules(ch.Table, ch)
		if err != nil {
			return fmt.Errorf("list rules of %s %s: %w", ch.Table.Name, ch.Name, err)
		}
		for _, rule := range rules {
			present[ch.Table.Name+"/"+ch.Name+"/"+ruleComment(rule)] = true
		}
	}
	added := false
	for _, w := range wantedRules(r, forward, input, postrouting, docker) {
		if present[w.chain.Table.Name+"/"+w.chain.Name+"/"+w.tag] {
			continue
		}
		rule := &nftables.Rule{Table: w.chain.Table, Chain: w.chain, Exprs: w.exprs,
			UserData: userdata.AppendString(nil, userdata.TypeComment, w.tag)}
		switch {
		case w.chain != docker:
			c.AddRule(rule)
		case dockerUser != 0:
			rule.Position = dockerUser
			c.AddRule(rule) // right after the jump to DOCKER-USER
		default:
			c.InsertRule(rule) // at the top
		}
		added = true
	}
	if !added {
		return nil
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("add nftables rules for %s: %w", r.Bridge, err)
	}
	return nil
}

// removeRules deletes every rule tagged for bridge, in comp's table and in iptables-nft's
// FORWARD chain, and comp's table itself once no rule is left in it.
func removeRules(bridge string) error {
	unlock, err := lockFirewall()
	if err != nil {
		return err
	}
	defer unlock()
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return fmt.Errorf("list nftables chains: %w", err)
	}
	prefix := ruleTag(bridge, "")
	ownLeft, ownTable, deleted := 0, false, false
	var errs []error
	for _, ch := range chains {
		own := ch.Table.Name == Table
		if !own && !(ch.Table.Name == "filter" && ch.Name == "FORWARD") {
			continue
		}
		ownTable = ownTable || own
		rules, err := c.GetRules(ch.Table, ch)
		if err != nil {
			errs = append(errs, fmt.Errorf("list rules of %s %s: %w", ch.Table.Name, ch.Name, err))
			continue
		}
		for _, rule := range rules {
			if !strings.HasPrefix(ruleComment(rule), prefix) {
				if own {
					ownLeft++
				}
				continue
			}
			if err := c.DelRule(rule); err != nil {
				errs = append(errs, err)
				continue
			}
			deleted = true
		}
	}
	if ownTable && ownLeft == 0 && len(errs) == 0 {
		c.DelTable(compTable)
		deleted = true
	}
	if deleted {
		if err := c.Flush(); err != nil {
			errs = append(errs, fmt.Errorf("delete nftables rules of %s: %w", bridge, err))
		}
	}
	return errors.Join(errs...)
}

// firewallLock serialises comp's firewall changes across every comp process on the machine,
// whatever its state folder: the kernel's tables are one, and a process deleting the empty
// comp_net table while another adds rules to it would make the other fail.
const firewallLock = "/run/comp-firewall.lock"

func lockFirewall() (func(), error) { return lockFile(firewallLock) }

// poolLock serialises subnet allocation across every comp process on the machine.
const poolLock = "/run/comp-subnets.lock"

func lockPool() (func(), error) { return lockFile(poolLock) }

func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() {
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
	}, nil
}
