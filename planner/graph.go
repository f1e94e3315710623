// Package planner decides what to do: given the desired project and what the runtime reports, it
// returns a plan of small named steps, each with the steps it waits for and the reason it exists.
// It does no I/O, so every decision is covered by table tests.
package planner

import (
	"sort"
	"strings"
)

// Graph is a dependency graph of services: Deps[s] are the services s depends on.
type Graph struct {
	Deps map[string][]string
}

// NewGraph builds a graph from service -> dependencies; unknown dependencies are kept as nodes.
func NewGraph(deps map[string][]string) *Graph {
	g := &Graph{Deps: map[string][]string{}}
	for s, ds := range deps {
		cp := append([]string(nil), ds...)
		sort.Strings(cp)
		g.Deps[s] = cp
	}
	return g
}

// Nodes returns every service in the graph, sorted.
func (g *Graph) Nodes() []string {
	seen := map[string]bool{}
	for s, ds := range g.Deps {
		seen[s] = true
		for _, d := range ds {
			seen[d] = true
		}
	}
	out := make([]string, 0, len(seen))
	for s := range seen {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// CycleError is a dependency cycle, printed as Docker Compose does: a -> b -> c -> a.
type CycleError struct {
	Path []string
}

func (e *CycleError) Error() string {
	return "dependency cycle detected: " + strings.Join(e.Path, " -> ")
}

// CheckCycle returns a *CycleError naming the first cycle found (in name order), or nil.
func (g *Graph) CheckCycle() error {
	const (
		unseen = iota
		onPath
		done
	)
	state := map[string]int{}
	var path []string
	var visit func(string) error
	visit = func(s string) error {
		switch state[s] {
		case onPath:
			i := indexOf(path, s)
			cycle := append(append([]string(nil), path[i:]...), s)
			return &CycleError{Path: cycle}
		case done:
			return nil
		}
		state[s] = onPath
		path = append(path, s)
		for _, d := range g.Deps[s] {
			if err := visit(d); err != nil {
				return err
			}
		}
		path = path[:len(path)-1]
		state[s] = done
		return nil
	}
	for _, s := range g.Nodes() {
		if err := visit(s); err != nil {
			return err
		}
	}
	return nil
}

// Levels groups services so that each level depends only on earlier ones (dependencies first).
func (g *Graph) Levels() ([][]string, error) {
	if err := g.CheckCycle(); err != nil {
		return nil, err
	}
	level := map[string]int{}
	var depth func(string) int
	depth = func(s string) int {
		if l, ok := level[s]; ok {
			return l
		}
		l := 0
		for _, d := range g.Deps[s] {
			if dl := depth(d) + 1; dl > l {
				l = dl
			}
		}
		level[s] = l
		return l
	}
	var levels [][]string
	for _, s := range g.Nodes() {
		l := depth(s)
		for len(levels) <= l {
			levels = append(levels, nil)
		}
		levels[l] = append(levels[l], s)
	}
	return levels, nil
}

// Dependents returns the services that depend on s, directly or not, sorted.
func (g *Graph) Dependents(s string) []string {
	seen := map[string]bool{}
	var walk func(string)
	walk = func(x string) {
		for svc, ds := range g.Deps {
			if indexOf(ds, x) >= 0 && !seen[svc] {
				seen[svc] = true
				walk(svc)
			}
		}
	}
	walk(s)
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}
