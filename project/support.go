package project

import (
	"errors"
	"fmt"
	"reflect"
	goruntime "runtime"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// The runtimes the key table speaks of, by the names --runtime takes.
const (
	RuntimeEmbedded = "embedded"
	RuntimeDocker   = "docker"
	// AllRuntimes in a Refusal refuses a key on every runtime.
	AllRuntimes = "*"
)

// goarch is the machine's architecture, as image platforms name it.
const goarch = goruntime.GOARCH

// Refusal says that a runtime cannot honour a compose key, and what the user can do instead.
type Refusal struct {
	// Runtime is the runtime's name, or AllRuntimes.
	Runtime string
	// Reason completes "services.web.KEY is not supported by the embedded runtime: …" (or
	// "by comp: …" for AllRuntimes): why, and what to do instead.
	Reason string
	// Unless, when set, accepts the values the runtime honours anyway (the default compose-go
	// writes, a value that means "as without the key"); only the others are refused.
	Unless func(v reflect.Value) bool
}

// Support is how the runtimes handle one compose key: the runtimes it names refuse the key,
// every other runtime implements it. A nil Support is a key every runtime implements.
type Support []Refusal

// Implemented is the Support of a key that every runtime honours.
var Implemented Support

// refused refuses a key on every runtime.
func refused(reason string) Support {
	return Support{{Runtime: AllRuntimes, Reason: reason}}
}

// refusedOn refuses a key on one runtime.
func refusedOn(runtime, reason string) Support {
	return Support{{Runtime: runtime, Reason: reason}}
}

// and adds the refusal of one more runtime.
func (s Support) and(runtime, reason string) Support {
	return append(append(Support(nil), s...), Refusal{Runtime: runtime, Reason: reason})
}

// unless sets which values every refusal of s accepts.
func (s Support) unless(accept func(reflect.Value) bool) Support {
	out := append(Support(nil), s...)
	for i := range out {
		out[i].Unless = accept
	}
	return out
}

// refusal is the refusal of the key by runtime for value v, or nil when runtime honours it.
func (s Support) refusal(runtime string, v reflect.Value) *Refusal {
	for i, r := range s {
		if r.Runtime != AllRuntimes && r.Runtime != runtime {
			continue
		}
		if r.Unless != nil && r.Unless(v) {
			continue
		}
		return &s[i]
	}
	return nil
}

// whole reports whether s refuses the key on every runtime whatever its value: then the keys
// under it need no entries of their own.
func (s Support) whole() bool {
	for _, r := range s {
		if r.Runtime == AllRuntimes && r.Unless == nil {
			return true
		}
	}
	return false
}

// oneOf accepts the strings listed (compare a string field's value).
func oneOf(values ...string) func(reflect.Value) bool {
	return func(v reflect.Value) bool {
		for v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return true
			}
			v = v.Elem()
		}
		if v.Kind() != reflect.String {
			return false
		}
		for _, want := range values {
			if v.String() == want {
				return true
			}
		}
		return false
	}
}

// keysIn accepts a map whose keys are all among those listed.
func keysIn(keys ...string) func(reflect.Value) bool {
	return func(v reflect.Value) bool {
		if v.Kind() != reflect.Map {
			return false
		}
		for _, k := range v.MapKeys() {
			if k.Kind() != reflect.String || !slices.Contains(keys, k.String()) {
				return false
			}
		}
		return true
	}
}

// isTrue accepts a *bool or bool that is unset or true.
func isTrue(v reflect.Value) bool {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return true
		}
		v = v.Elem()
	}
	return v.Kind() == reflect.Bool && v.Bool()
}

// UnsupportedError lists the keys of a project that a runtime refuses.
type UnsupportedError struct {
	// Files are the compose files the keys come from.
	Files []string
	// Runtime is the runtime that refuses them.
	Runtime string
	// Keys are the problems, each "services.web.KEY is not supported by …: reason", sorted.
	Keys []string
}

func (e *UnsupportedError) Error() string {
	files := strings.Join(e.Files, ", ")
	if len(e.Keys) == 1 {
		return fmt.Sprintf("%s: %s; nothing was changed", files, e.Keys[0])
	}
	return fmt.Sprintf("%s: %d keys cannot be honoured; nothing was changed:\n  %s", files, len(e.Keys), strings.Join(e.Keys, "\n  "))
}

// ErrUnsupported is what an UnsupportedError matches with errors.Is.
var ErrUnsupported = errors.New("compose key not supported")

// Is makes errors.Is(err, ErrUnsupported) true.
func (e *UnsupportedError) Is(target error) bool { return target == ErrUnsupported }

// CheckSupport refuses, before anything is made, every key of p's services (and of the
// networks, volumes, secrets and configs they use) that the runtime named runtime cannot
// honour, as Keys says. `comp config` does not call it: it prints the whole file.
func (p *Project) CheckSupport(runtime string) error {
	c := supportCheck{runtime: runtime}
	used := usedObjects(p.Project)
	names := p.ServiceNames()
	sort.Strings(names)
	for _, name := range names {
		s := p.Services[name]
		c.walk("services.*", "services."+name, reflect.ValueOf(s))
	}
	c.walkObjects("networks", p.Networks, used.networks)
	c.walkObjects("volumes", p.Volumes, used.volumes)
	c.walkObjects("secrets", p.Secrets, used.secrets)
	c.walkObjects("configs", p.Configs, used.configs)
	if len(p.Jobs) > 0 {
		c.field("jobs", "jobs", reflect.ValueOf(p.Jobs))
	}
	if len(p.Models) > 0 {
		c.field("models", "models", reflect.ValueOf(p.Models))
	}
	if len(c.problems) == 0 {
		return nil
	}
	sort.Strings(c.problems)
	return &UnsupportedError{Files: p.ComposeFiles, Runtime: runtime, Keys: c.problems}
}

// CheckBuildSupport is CheckSupport for `comp build`: the build: sections of p's services and
// the secrets they use.
func (p *Project) CheckBuildSupport(runtime string) error {
	c := supportCheck{runtime: runtime}
	names := p.ServiceNames()
	sort.Strings(names)
	secrets := map[string]bool{}
	for _, name := range names {
		s := p.Services[name]
		if s.Build == nil {
			continue
		}
		c.field("services.*.build", "services."+name+".build", reflect.ValueOf(s.Build))
		for _, sec := range s.Build.Secrets {
			secrets[sec.Source] = true
		}
	}
	c.walkObjects("secrets", p.Secrets, secrets)
	if len(c.problems) == 0 {
		return nil
	}
	sort.Strings(c.problems)
	return &UnsupportedError{Files: p.ComposeFiles, Runtime: runtime, Keys: c.problems}
}

// supportCheck walks a project's values along the key table and collects what is refused.
type supportCheck struct {
	runtime  string
	problems []string
}

// walkObjects checks the top-level objects of one kind (networks, volumes…) that services use.
func (c *supportCheck) walkObjects(kind string, objects any, used map[string]bool) {
	m := reflect.ValueOf(objects)
	keys := m.MapKeys()
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	for _, k := range keys {
		if !used[k.String()] {
			continue
		}
		c.walk(kind+".*", kind+"."+k.String(), m.MapIndex(k))
	}
}

// field checks one key: path is its table path, display how the error names it.
func (c *supportCheck) field(path, display string, v reflect.Value) {
	support, known := Keys[path]
	if !known {
		c.problems = append(c.problems, fmt.Sprintf("%s is not known to comp's key table: it cannot be honoured (report it: comp must decide what the key means before it is used)", display))
		return
	}
	if r := support.refusal(c.runtime, v); r != nil {
		by := "by the " + c.runtime + " runtime"
		if r.Runtime == AllRuntimes {
			by = "by comp"
		}
		c.problems = append(c.problems, fmt.Sprintf("%s is not supported %s: %s", display, by, r.Reason))
		return
	}
	c.walk(path, display, v)
}

// walk descends into v, whose table path is path, checking each set key under it.
func (c *supportCheck) walk(path, display string, v reflect.Value) {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.Struct:
		eachKey(v.Type(), func(f reflect.StructField, name string, index []int) {
			fv := v.FieldByIndex(index)
			if fv.IsZero() {
				return
			}
			c.field(path+"."+name, display+"."+name, fv)
		})
	case reflect.Slice, reflect.Array:
		if !nested(v.Type().Elem()) {
			return
		}
		for i := 0; i < v.Len(); i++ {
			c.walk(path+"[]", display+"["+strconv.Itoa(i)+"]", v.Index(i))
		}
	case reflect.Map:
		if !nested(v.Type().Elem()) {
			return
		}
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
		for _, k := range keys {
			c.walk(path+".*", display+"."+fmt.Sprint(k), v.MapIndex(k))
		}
	}
}

// eachKey calls fn for every compose key of struct type t (by its yaml name), inline structs
// flattened; x- extensions and fields the file cannot set (yaml:"-") are left out.
func eachKey(t reflect.Type, fn func(f reflect.StructField, name string, index []int)) {
	var visit func(t reflect.Type, index []int)
	visit = func(t reflect.Type, index []int) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			idx := append(append([]int(nil), index...), i)
			name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			switch {
			case name == "-" || name == "#extensions":
				continue
			case strings.Contains(opts, "inline") || (f.Anonymous && name == ""):
				if f.Type.Kind() == reflect.Struct {
					visit(f.Type, idx)
				} // else an inline map: the x- extensions of the struct
				continue
			case !f.IsExported():
				continue
			case name == "":
				name = strings.ToLower(f.Name)
			}
			fn(f, name, idx)
		}
	}
	visit(t, nil)
}

// nested reports whether values of type t hold keys of their own (structs, or lists and maps
// of them), which the table lists one by one.
func nested(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		return true
	case reflect.Slice, reflect.Array, reflect.Map:
		return nested(t.Elem())
	}
	return false
}

// used lists the top-level objects services refer to.
type used struct {
	networks, volumes, secrets, configs map[string]bool
}

func usedObjects(p *types.Project) used {
	u := used{networks: map[string]bool{}, volumes: map[string]bool{}, secrets: map[string]bool{}, configs: map[string]bool{}}
	for _, s := range p.Services {
		for n := range s.Networks {
			u.networks[n] = true
		}
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeVolume && v.Source != "" {
				u.volumes[v.Source] = true
			}
		}
		for _, sec := range s.Secrets {
			u.secrets[sec.Source] = true
		}
		for _, cfg := range s.Configs {
			u.configs[cfg.Source] = true
		}
		if s.Build != nil {
			for _, sec := range s.Build.Secrets {
				u.secrets[sec.Source] = true
			}
		}
	}
	return u
}
