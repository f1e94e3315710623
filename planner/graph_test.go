package planner

import (
	"errors"
	"reflect"
	"testing"
)

func TestCheckCycle(t *testing.T) {
	cases := []struct {
		name string
		deps map[string][]string
		want string
	}{
		{"no cycle", map[string][]string{"a": {"b"}, "b": {"c"}}, ""},
		{"three-service cycle printed in order", map[string][]string{"a": {"b"}, "b": {"c"}, "c": {"a"}}, "dependency cycle detected: a -> b -> c -> a"},
		{"self dependency", map[string][]string{"a": {"a"}}, "dependency cycle detected: a -> a"},
		{"cycle behind an acyclic part", map[string][]string{"a": {"b"}, "b": {"c"}, "c": {"b"}}, "dependency cycle detected: b -> c -> b"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := NewGraph(tc.deps).CheckCycle()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected %v", err)
				}
				return
			}
			var ce *CycleError
			if !errors.As(err, &ce) || err.Error() != tc.want {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestLevels(t *testing.T) {
	g := NewGraph(map[string][]string{"web": {"api", "cache"}, "api": {"db"}, "db": nil, "cache": nil, "worker": {"db"}})
	levels, err := g.Levels()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"cache", "db"}, {"api", "worker"}, {"web"}}
	if !reflect.DeepEqual(levels, want) {
		t.Errorf("levels = %v, want %v", levels, want)
	}
	if got := g.Dependents("db"); !reflect.DeepEqual(got, []string{"api", "web", "worker"}) {
		t.Errorf("dependents of db = %v", got)
	}
}
