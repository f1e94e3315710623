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
			excluded := s.ctx.excluded(path.Join(s.rel, child))
			fi, err := e.Info()
			if err != nil {
				return err
			}
			if !excluded {
				if err := fn(child, filepath.Join(s.host, child), fi); err != nil {
					return err
				}
			}
			if fi.IsDir() && (!excluded || s.ctx.descend(path.Join(s.rel, child))) {
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
