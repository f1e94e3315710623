package build

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/patternmatcher"
	"github.com/opencontainers/go-digest"

	"github.com/comp-dev/comp/runtime/buildcontext"
)

// contextFS is the build context: its folder and its .dockerignore rules.
type contextFS struct {
	dir    string
	ignore *buildcontext.Ignore
}

// excluded reports whether the .dockerignore rules exclude rel (slash-separated, relative to
// the root); nothing is excluded of a source outside the context (a nil c).
func (c *contextFS) excluded(rel string) bool { return c != nil && c.ignore.Excludes(rel) }

// descend reports whether a walk must look inside dir, an excluded folder, because an
// exception of the rules may bring part of it back.
func (c *contextFS) descend(dir string) bool { return c != nil && c.ignore.Descend(dir) }

// source is a file, folder or symlink that a COPY or ADD takes, from the build context or
// from the root of a stage or image.
type source struct {
	host string      // its path on the host, symlinks of the named path resolved within the root
	name string      // its base name, as a destination folder names it
	info fs.FileInfo // of host, not following a symlink
	// rel is its path relative to the build context, for .dockerignore; ctx is nil for a
	// source outside the context.
	rel string
	ctx *contextFS
	// exclude, when set, are COPY --exclude patterns, matched with paths relative to the
	// source (a folder's content) or to the root (the source itself).
	exclude *patternmatcher.PatternMatcher
	// keep is the path COPY --parents keeps under the destination.
	keep string
}

// excludeMatcher compiles COPY --exclude patterns; none gives nil.
func excludeMatcher(patterns []string) (*patternmatcher.PatternMatcher, error) {
	if len(patterns) == 0 {
		return nil, nil
	}
	pm, err := patternmatcher.New(patterns)
	if err == nil {
		_, err = pm.MatchesOrParentMatches(".") // compile now, so that no walk fails later
	}
	return pm, err
}

// excludes reports whether the --exclude patterns leave out rel.
func excludes(pm *patternmatcher.PatternMatcher, rel string) bool {
	if pm == nil {
		return false
	}
	m, _ := pm.MatchesOrParentMatches(rel)
	return m
}

// copySources resolves the sources of op in root, as resolveSources does, then leaves out
// what --exclude excludes and, with --parents, notes the path to keep of each: the path from
// root, or from the "/./" pivot the source names.
func copySources(root string, ctx *contextFS, op copyOp, exclude *patternmatcher.PatternMatcher) ([]source, error) {
	var out []source
	for _, p := range op.srcs {
		pivot := ""
		if op.parents {
			if parent, _, ok := strings.Cut(p, "/./"); ok {
				pivot = strings.TrimPrefix(path.Clean("/"+filepath.ToSlash(parent)), "/")
			}
		}
		srcs, err := resolveSources(root, ctx, []string{p})
		if err != nil {
			return nil, err
		}
		for _, s := range srcs {
			if excludes(exclude, s.rel) {
				continue
			}
			s.exclude = exclude
			if op.parents {
				s.keep = s.rel
				if pivot != "" {
					s.keep = strings.TrimPrefix(strings.TrimPrefix(s.rel, pivot), "/")
				}
			}
			out = append(out, s)
		}
	}
	return out, nil
}

// verifyChecksum checks ADD --checksum: srcs is one regular file whose content has the digest.
func verifyChecksum(srcs []source, checksum string) error {
	want, err := digest.Parse(checksum)
	if err != nil {
		return fmt.Errorf("--checksum=%s: %w", checksum, err)
	}
	if len(srcs) != 1 || !srcs[0].info.Mode().IsRegular() {
		return fmt.Errorf("--checksum=%s needs one file as the source", checksum)
	}
	f, err := os.Open(srcs[0].host)
	if err != nil {
		return err
	}
	defer f.Close()
	if !want.Algorithm().Available() {
		return fmt.Errorf("--checksum=%s: unknown algorithm", checksum)
	}
	h := want.Algorithm().Hash()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	if got := digest.NewDigest(want.Algorithm(), h); got != want {
		return fmt.Errorf("checksum mismatch: %s is %s, the Dockerfile expects %s", srcs[0].rel, got, want)
	}
	return nil
}

// errNoSource is a source path that names nothing (or only what .dockerignore excludes).
var errNoSource = errors.New("not found")

// resolveSources finds what the source paths (relative to root; globs allowed) name in root.
// ctx is the context's ignore rules when root is the context, else nil.
func resolveSources(root string, ctx *contextFS, paths []string) ([]source, error) {
	var out []source
	for _, p := range paths {
		rel := strings.TrimPrefix(path.Clean("/"+filepath.ToSlash(p)), "/")
		if rel == "" {
			rel = "."
		}
		if strings.ContainsAny(rel, "*?[") {
			matches, err := glob(root, ctx, rel)
			if err != nil {
				return nil, err
			}
			if len(matches) == 0 {
				return nil, fmt.Errorf("%s: no file matches the pattern: %w", p, errNoSource)
			}
			out = append(out, matches...)
			continue
		}
		if ctx.excluded(rel) {
			return nil, fmt.Errorf("%s: %w (excluded by %s)", p, errNoSource, filepath.Base(ctx.ignore.File))
		}
		src, err := newSource(root, ctx, rel)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w", p, errNoSource)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, src)
	}
	return out, nil
}

// newSource describes rel of root, following its symlinks within root.
func newSource(root string, ctx *contextFS, rel string) (source, error) {
	host, err := securejoin.SecureJoin(root, rel)
	if err != nil {
		return source{}, err
	}
	fi, err := os.Lstat(host)
	if err != nil {
		return source{}, err
	}
	name := path.Base(rel)
	if rel == "." {
		name = ""
	}
	return source{host: host, name: name, info: fi, rel: rel, ctx: ctx}, nil
}

// glob finds the paths of root matching pattern (path.Match: * does not cross a /), in order.
func glob(root string, ctx *contextFS, pattern string) ([]source, error) {
	if _, err := path.Match(pattern, ""); err != nil {
		return nil, fmt.Errorf("%s: %w", pattern, err)
	}
	depth := strings.Count(pattern, "/") + 1
	var out []source
	var walk func(rel string, level int) error
	walk = func(rel string, level int) error {
		entries, err := os.ReadDir(filepath.Join(root, rel))
		if err != nil {
			return err
		}
		for _, e := range entries {
			child := path.Join(rel, e.Name())
			excluded := ctx.excluded(child)
			if !excluded {
				if ok, _ := path.Match(pattern, child); ok {
					src, err := newSource(root, ctx, child)
					if err != nil {
						return err
					}
					out = append(out, src)
					continue
				}
			}
			if e.IsDir() && level < depth && (!excluded || ctx.descend(child)) {
				if err := walk(child, level+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk("", 1); err != nil {
		return nil, err
	}
	return out, nil
}

// walk calls fn for src itself (rel ".") and, for a folder, for everything in it that
// .dockerignore keeps, a folder before its content, in name order. Symlinks inside are not
// followed.
func (s source) walk(fn func(rel, host string, fi fs.FileInfo) error) error {
	if err := fn(".", s.host, s.info); err != nil {
		return err
	}
	if !s.info.IsDir() {
		return nil
	}
	var walk func(rel string) error
	walk = func(rel string) error {
		entries, err := os.ReadDir(filepath.Join(s.host, rel))
		if err != nil {
			return err
		}
		sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
		for _, e := range entries {
			child := path.Join(rel, e.Name())
			ctxExcluded := s.ctx.excluded(path.Join(s.rel, child))
			copyExcluded := excludes(s.exclude, child)
			fi, err := e.Info()
			if err != nil {
				return err
			}
			if !ctxExcluded && !copyExcluded {
				if err := fn(child, filepath.Join(s.host, child), fi); err != nil {
					return err
				}
			}
			if fi.IsDir() && (!ctxExcluded || s.ctx.descend(path.Join(s.rel, child))) &&
				(!copyExcluded || s.exclude.Exclusions()) {
				if err := walk(child); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return walk("")
}

// digestSources hashes what a COPY or ADD would take: each source's name, and the path,
// type, permissions, link target and content of everything in it. Owners and times are left
// out: COPY sets its own owner, and a touched file is not a changed one.
func digestSources(srcs []source) (string, error) {
	h := sha256.New()
	buf := make([]byte, 128<<10)
	for _, s := range srcs {
		fmt.Fprintf(h, "source %q\x00", s.name)
		err := s.walk(func(rel, host string, fi fs.FileInfo) error {
			link := ""
			if fi.Mode()&fs.ModeSymlink != 0 {
				var err error
				if link, err = os.Readlink(host); err != nil {
					return err
				}
			}
			fmt.Fprintf(h, "%q %o %q %d\x00", rel, fi.Mode(), link, fi.Size())
			if !fi.Mode().IsRegular() {
				return nil
			}
			f, err := os.Open(host)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.CopyBuffer(h, f, buf)
			return err
		})
		if err != nil {
			return "", fmt.Errorf("read %s: %w", s.rel, err)
		}
	}
	return fmt.Sprintf("sha256:%x", h.Sum(nil)), nil
}
