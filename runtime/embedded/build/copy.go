package build

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"

	"github.com/comp-dev/comp/runtime"
)

// copyOp is a COPY or ADD, expanded.
type copyOp struct {
	name     string // "COPY" or "ADD"
	text     string // as the Dockerfile has it, for errors
	srcs     []string
	contents []instructions.SourceContent // heredocs
	dest     string
	from     string
	chown    string
	chmod    string
	unpack   bool     // ADD: extract local archives
	excludes []string // --exclude patterns
	parents  bool     // --parents: keep the sources' paths under dest
	checksum string   // ADD --checksum of its one local file
	// srcCtx, when set, is the folder the sources come from in place of the build context
	// (FROM a named context).
	srcCtx *contextFS
}

// copyStep runs a COPY. --link changes how BuildKit stores the layer, not what it holds: the
// layer made here is the same, so it is taken as it is.
func (bd *build) copyStep(ctx context.Context, st *state, c *instructions.CopyCommand, label string, loc []parser.Range) error {
	for _, s := range c.SourcePaths {
		if isRemote(s) {
			return bd.df.invalid(loc, "COPY %s: a URL cannot be a COPY source (ADD can fetch one, COPY cannot)", s)
		}
	}
	return bd.copyFiles(ctx, st, copyOp{name: "COPY", text: firstLine(c.String()), srcs: c.SourcePaths, contents: c.SourceContents,
		dest: c.DestPath, from: c.From, chown: c.Chown, chmod: c.Chmod, excludes: c.ExcludePatterns, parents: c.Parents}, label, loc)
}

// addStep runs an ADD of local sources; it downloads nothing (no network is assumed), so a URL
// or git source is refused with what to do instead.
func (bd *build) addStep(ctx context.Context, st *state, c *instructions.AddCommand, label string, loc []parser.Range) error {
	for _, s := range c.SourcePaths {
		if isRemote(s) {
			return bd.df.unsupported(loc, "ADD %s: remote sources (URLs, git repositories) are not supported by the embedded builder; "+
				"fetch the file into the build context, or in a RUN step", s)
		}
	}
	if c.KeepGitDir != nil {
		return bd.df.unsupported(loc, "ADD --keep-git-dir: the embedded builder adds no git sources")
	}
	if c.Checksum != "" && (len(c.SourcePaths) != 1 || len(c.SourceContents) > 0) {
		return bd.df.invalid(loc, "ADD --checksum: checksum can't be specified for multiple sources")
	}
	return bd.copyFiles(ctx, st, copyOp{name: "ADD", text: firstLine(c.String()), srcs: c.SourcePaths, contents: c.SourceContents,
		dest: c.DestPath, chown: c.Chown, chmod: c.Chmod, unpack: c.Unpack == nil || *c.Unpack,
		excludes: c.ExcludePatterns, checksum: c.Checksum}, label, loc)
}

// isRemote reports whether an ADD source names something to download.
func isRemote(src string) bool {
	return strings.Contains(src, "://") || strings.HasPrefix(src, "git@")
}

// copyFiles runs a COPY or ADD: it resolves the sources, computes the step's key (for files of
// the context, from their content), and on a cache miss copies them onto the stage's root.
func (bd *build) copyFiles(ctx context.Context, st *state, op copyOp, label string, loc []parser.Range) error {
	dest := op.dest
	if !path.IsAbs(dest) {
		wd := st.config.WorkingDir
		if wd == "" {
			wd = "/"
		}
		trailing := strings.HasSuffix(dest, "/") || dest == "." || dest == ""
		dest = path.Join(wd, dest)
		if trailing {
			dest += "/"
		}
	}
	var mode *fs.FileMode
	if op.chmod != "" {
		m, err := strconv.ParseUint(op.chmod, 8, 32)
		if err != nil || m > 0o7777 {
			return bd.df.unsupported(loc, "%s --chmod=%s: only octal modes are supported", op.name, op.chmod)
		}
		fm := fs.FileMode(m & 0o777)
		for bit, special := range map[uint64]fs.FileMode{0o4000: fs.ModeSetuid, 0o2000: fs.ModeSetgid, 0o1000: fs.ModeSticky} {
			if m&bit != 0 {
				fm |= special
			}
		}
		mode = &fm
	}

	exclude, err := excludeMatcher(op.excludes)
	if err != nil {
		return bd.df.invalid(loc, "%s --exclude: %v", op.name, err)
	}

	// Where the files come from, and what the key needs to know about them.
	var (
		srcs     []source
		srcState *state // a stage or image copied from
		inputs   []string
	)
	from := fromSource{dir: op.srcCtx}
	if op.srcCtx == nil {
		if from, err = bd.resolveFrom(ctx, op.from, label); err != nil {
			return bd.df.At(loc, fmt.Errorf("%s: %w", op.text, err))
		}
	}
	if from.dir != nil {
		if srcs, err = copySources(from.dir.dir, from.dir, op, exclude); err != nil {
			return bd.sourceError(op, loc, err)
		}
		if op.checksum != "" {
			if err := verifyChecksum(srcs, op.checksum); err != nil {
				return bd.df.invalid(loc, "%s: %v", op.text, err)
			}
		}
		digest, err := digestSources(srcs)
		if err != nil {
			return bd.df.At(loc, fmt.Errorf("%s: %w", op.text, err))
		}
		inputs = append(inputs, digest)
	} else {
		if op.checksum != "" {
			return bd.df.invalid(loc, "%s: --checksum needs a file of the build context", op.text)
		}
		srcState = from.state
		inputs = append(inputs, "from "+srcState.digest())
	}
	if len(op.excludes) > 0 || op.parents {
		inputs = append(inputs, fmt.Sprintf("exclude %q parents %v", op.excludes, op.parents))
	}
	for _, c := range op.contents {
		inputs = append(inputs, fmt.Sprintf("heredoc %q %x", c.Path, sha256.Sum256([]byte(c.Data))))
	}
	key := st.key(op.name, append([]string{fmt.Sprintf("%q %q %q %q %v", op.srcs, dest, op.chown, op.chmod, op.unpack)}, inputs...)...)
	if bd.cached(st, key, label) {
		return nil
	}
	bd.progress(runtime.BuildProgress{Step: label})

	return bd.change(ctx, st, key, func(rootfs string) error {
		if srcState != nil {
			// The sources are in another stage's or image's root: mount it beside.
			srcDir := filepath.Join(filepath.Dir(rootfs), "src")
			srcRoot, err := mountOverlay(srcState.dirs(), srcDir)
			if err != nil {
				return err
			}
			defer unmountOverlay(srcDir)
			if srcs, err = copySources(srcRoot, nil, op, exclude); err != nil {
				return bd.sourceError(op, loc, err)
			}
		}
		cp := &copier{root: rootfs, owner: owner{}, mode: mode}
		if op.chown != "" {
			o, err := chownOwner(rootfs, op.chown)
			if err != nil {
				return bd.df.invalid(loc, "%s: %v", op.name, err)
			}
			cp.owner, cp.chowned = o, true
		}
		if err := bd.place(cp, op, srcs, dest); err != nil {
			return bd.df.At(loc, fmt.Errorf("%s: %w", op.text, err))
		}
		return nil
	})
}

// place writes the sources at dest: a folder's content into dest, a file into dest when dest
// is a folder (it ends with "/", exists as one, or there are several sources), else as dest.
// ADD extracts local archives into dest.
func (bd *build) place(cp *copier, op copyOp, srcs []source, dest string) error {
	destDir := strings.HasSuffix(dest, "/") || len(srcs)+len(op.contents) > 1 || op.parents
	for _, p := range op.srcs {
		destDir = destDir || strings.ContainsAny(p, "*?[")
	}
	dest = path.Clean(dest)
	if !destDir {
		isDir, err := cp.isDir(dest)
		if err != nil {
			return err
		}
		destDir = isDir
	}
	for _, s := range srcs {
		switch {
		case op.parents:
			// The source's path (after a "/./" pivot) is kept under dest.
			target := path.Join(dest, s.keep)
			if s.info.IsDir() {
				if err := cp.mkdirAll(target); err != nil {
					return err
				}
			} else if err := cp.mkdirAll(path.Dir(target)); err != nil {
				return err
			}
			if err := cp.copyTree(s, target); err != nil {
				return err
			}
		case s.info.IsDir():
			if err := cp.mkdirAll(dest); err != nil {
				return err
			}
			if err := cp.copyTree(s, dest); err != nil {
				return err
			}
		case op.unpack && s.info.Mode().IsRegular():
			extracted, err := cp.extract(s.host, dest)
			if err != nil {
				return fmt.Errorf("extract %s: %w", s.rel, err)
			}
			if extracted {
				continue
			}
			fallthrough
		default:
			target := dest
			if destDir {
				target = path.Join(dest, s.name)
			}
			if err := cp.mkdirAll(path.Dir(target)); err != nil {
				return err
			}
			if err := cp.copyTree(s, target); err != nil {
				return err
			}
		}
	}
	for _, c := range op.contents {
		target := dest
		if destDir {
			target = path.Join(dest, c.Path)
		}
		if err := cp.mkdirAll(path.Dir(target)); err != nil {
			return err
		}
		if err := cp.writeFile(target, []byte(c.Data), 0o644); err != nil {
			return err
		}
	}
	return cp.finish()
}

// sourceError explains a source that names nothing.
func (bd *build) sourceError(op copyOp, loc []parser.Range, err error) error {
	if errors.Is(err, errNoSource) {
		where := "the build context"
		if op.from != "" {
			where = op.from
		}
		return bd.df.invalid(loc, "%s: %v in %s", op.text, err, where)
	}
	return bd.df.At(loc, fmt.Errorf("%s: %w", op.text, err))
}

// workdirStep sets the working directory and creates it (owned by USER, when set) if missing.
func (bd *build) workdirStep(ctx context.Context, st *state, c *instructions.WorkdirCommand, label string, loc []parser.Range) error {
	p := c.Path
	if !path.IsAbs(p) {
		wd := st.config.WorkingDir
		if wd == "" {
			wd = "/"
		}
		p = path.Join(wd, p)
	}
	p = path.Clean(p)
	st.config.WorkingDir = p
	key := st.key("WORKDIR", p)
	if bd.cached(st, key, label) {
		return nil
	}
	bd.progress(runtime.BuildProgress{Step: label})
	return bd.change(ctx, st, key, func(rootfs string) error {
		cp := &copier{root: rootfs}
		if st.config.User != "" {
			o, err := userOwner(rootfs, st.config.User)
			if err != nil {
				return bd.df.invalid(loc, "WORKDIR: %v", err)
			}
			cp.owner = o
		}
		if err := cp.mkdirAll(p); err != nil {
			return bd.df.At(loc, fmt.Errorf("WORKDIR %s: %w", p, err))
		}
		return nil
	})
}
