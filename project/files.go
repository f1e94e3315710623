package project

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/comp-dev/comp/runtime"
)

// SecretsDir is where a container sees its secrets by default (and a relative secret target
// is under), as with Docker Compose and Swarm.
const SecretsDir = "/run/secrets"

// DefaultFileMode is the mode of a secret or config that comp writes when the service gives
// none: readable by every user of the container, as Docker Compose writes them.
const DefaultFileMode = 0o444

// LabelFiles holds a keyed digest of each secret and config a container was created with (of
// its content, for those comp writes; of its path, for a bind-mounted file), so that `up`
// recreates the container when one changed. Compose's own config hash does not see the
// content (docker/compose#11900); comp keeps that hash as Compose computes it, for the two to
// agree, and compares this label too.
const LabelFiles = "dev.comp.files"

// ContainerFiles resolves service s's secrets and then its configs into the files its
// containers see: targets defaulted (secrets under /run/secrets, configs at /NAME), modes
// defaulted to 0444, and the content of environment and content sources read. A file source is
// bind-mounted as it is, unless the service sets uid, gid or mode: then comp reads it and
// writes it with those (Docker Compose ignores them there with a warning; comp honours them).
// A missing file, an unset variable or an external secret is an error that names the key.
func (p *Project) ContainerFiles(s types.ServiceConfig) ([]runtime.ContainerFile, error) {
	var files []runtime.ContainerFile
	for i, ref := range s.Secrets {
		def, ok := p.Secrets[ref.Source]
		if !ok {
			return nil, fmt.Errorf("services.%s.secrets[%d]: secret %q is not defined under the top-level secrets:", s.Name, i, ref.Source)
		}
		f, err := p.containerFile(s, "secret", i, types.FileReferenceConfig(ref), types.FileObjectConfig(def))
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	for i, ref := range s.Configs {
		def, ok := p.Configs[ref.Source]
		if !ok {
			return nil, fmt.Errorf("services.%s.configs[%d]: config %q is not defined under the top-level configs:", s.Name, i, ref.Source)
		}
		f, err := p.containerFile(s, "config", i, types.FileReferenceConfig(ref), types.FileObjectConfig(def))
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	if err := uniqueTargets(s, files); err != nil {
		return nil, err
	}
	return files, nil
}

// containerFile resolves the i-th secret or config (kind) reference of s to def.
func (p *Project) containerFile(s types.ServiceConfig, kind string, i int, ref types.FileReferenceConfig, def types.FileObjectConfig) (runtime.ContainerFile, error) {
	refKey := fmt.Sprintf("services.%s.%ss[%d]", s.Name, kind, i)
	defKey := kind + "s." + ref.Source
	invalid := func(format string, args ...any) error {
		return runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf(format, args...))
	}
	if def.External {
		return runtime.ContainerFile{}, runtime.Classify(runtime.ErrNotImplemented, fmt.Errorf(
			"%s: %s %s is external (%s.external: true), and external %ss live in a Swarm store, which comp has none of: "+
				"give %s a file: or environment: source instead", refKey, kind, ref.Source, defKey, kind, defKey))
	}
	for _, d := range []struct{ key, value string }{
		{"driver", def.Driver}, {"template_driver", def.TemplateDriver},
	} {
		if d.value != "" {
			return runtime.ContainerFile{}, runtime.Classify(runtime.ErrNotImplemented, fmt.Errorf(
				"%s.%s: a %s's %s needs a Swarm store, which comp has none of (Docker Compose refuses it too): remove %s and give a file: or environment: source",
				defKey, d.key, kind, d.key, d.key))
		}
	}
	if len(def.DriverOpts) > 0 {
		return runtime.ContainerFile{}, runtime.Classify(runtime.ErrNotImplemented, fmt.Errorf(
			"%s.driver_opts: options of a %s driver, which comp has none of: remove them", defKey, kind))
	}

	f := runtime.ContainerFile{Kind: kind, Key: ref.Source, Mode: DefaultFileMode}
	f.Target = ref.Target
	switch {
	case f.Target == "" && kind == "secret":
		f.Target = SecretsDir + "/" + ref.Source
	case f.Target == "":
		f.Target = "/" + ref.Source
	case !strings.HasPrefix(f.Target, "/") && kind == "secret":
		f.Target = SecretsDir + "/" + f.Target
	case !strings.HasPrefix(f.Target, "/"):
		f.Target = "/" + f.Target
	}
	f.Target = path.Clean(f.Target)
	if f.Target == "/" || f.Target == SecretsDir {
		return f, invalid("%s.target: %q is a folder the container needs: name a file", refKey, ref.Target)
	}
	var err error
	if f.UID, err = fileOwner(ref.UID); err != nil {
		return f, invalid("%s.uid: %w", refKey, err)
	}
	if f.GID, err = fileOwner(ref.GID); err != nil {
		return f, invalid("%s.gid: %w", refKey, err)
	}
	if ref.Mode != nil {
		if *ref.Mode < 0 || *ref.Mode > 0o7777 {
			return f, invalid("%s.mode: %#o is not a file mode: give permission bits such as 0440", refKey, int64(*ref.Mode))
		}
		f.Mode = uint32(*ref.Mode)
	}
	owned := ref.UID != "" || ref.GID != "" || ref.Mode != nil

	switch {
	case def.Environment != "":
		// compose-go copies the variable into a config's content; read it from the project's
		// environment for both kinds, as Docker Compose does.
		v, ok := p.Environment[def.Environment]
		if !ok {
			return f, invalid("%s.environment: variable %s is not set: set it in the environment or in .env, or give %s a file: source",
				defKey, def.Environment, defKey)
		}
		f.Content = []byte(v)
	case def.File != "":
		src := def.File
		if !filepath.IsAbs(src) {
			src = filepath.Join(p.WorkingDir, src)
		}
		info, err := os.Stat(src)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return f, invalid("%s.file: %s does not exist: create it, or point %s.file at the %s's file", defKey, src, defKey, kind)
			}
			return f, fmt.Errorf("%s.file: %w", defKey, err)
		}
		if !owned {
			f.Source = src
			break
		}
		if info.IsDir() {
			return f, invalid("%s: uid, gid and mode apply to a file, and %s.file (%s) is a folder: remove them to bind-mount the folder as it is",
				refKey, defKey, src)
		}
		if f.Content, err = os.ReadFile(src); err != nil {
			return f, fmt.Errorf("%s.file: %w", defKey, err)
		}
	case def.Content != "":
		f.Content = []byte(def.Content)
	default:
		return f, invalid("%s: it has no source: give it file:, environment: or (configs) content:", defKey)
	}
	if f.Content == nil && f.Source == "" {
		f.Content = []byte{}
	}
	return f, nil
}

// fileOwner reads a secret's or config's uid or gid: a number, 0 when unset.
func fileOwner(v string) (int, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a number: give the numeric id (names are not looked up)", v)
	}
	return n, nil
}

// uniqueTargets refuses two files, or a file and a volume, at one target: Docker Compose keeps
// one of them silently.
func uniqueTargets(s types.ServiceConfig, files []runtime.ContainerFile) error {
	seen := map[string]string{}
	for _, v := range s.Volumes {
		seen[path.Clean(v.Target)] = "a volume"
	}
	for _, f := range files {
		name := f.Kind + " " + f.Key
		if other, ok := seen[f.Target]; ok {
			return runtime.Classify(runtime.ErrInvalidArgument, fmt.Errorf(
				"services.%s: %s and %s both target %s: give one of them another target", s.Name, other, name, f.Target))
		}
		seen[f.Target] = name
	}
	return nil
}

// FilesLabel is the value of LabelFiles for files of service service in project: one keyed
// digest per file, in order. The key is the project and service names, so that a label
// cannot be matched against a table of digests of common passwords.
func FilesLabel(project, service string, files []runtime.ContainerFile) string {
	parts := make([]string, len(files))
	for i, f := range files {
		parts[i] = fileDigest(project, service, f)
	}
	return strings.Join(parts, ",")
}

func fileDigest(project, service string, f runtime.ContainerFile) string {
	mac := hmac.New(sha256.New, []byte("comp files\x00"+project+"\x00"+service))
	field := func(b []byte) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		mac.Write(n[:])
		mac.Write(b)
	}
	field([]byte(f.Kind))
	field([]byte(f.Key))
	field([]byte(f.Target))
	field([]byte(f.Source))
	field([]byte(fmt.Sprintf("%d:%d:%o", f.UID, f.GID, f.Mode)))
	if f.Source == "" {
		field(f.Content)
	}
	return hex.EncodeToString(mac.Sum(nil)[:8])
}

// ChangedFiles names ("secret db_pw") the files that differ from those a container with labels
// was created with. A container comp made before it recorded them counts as having none; one
// Docker Compose made (no comp label) is taken as up to date, as Compose would.
func ChangedFiles(labels map[string]string, project, service string, files []runtime.ContainerFile) []string {
	old, ok := labels[LabelFiles]
	if !ok {
		if _, comp := labels[LabelConfigFields]; !comp {
			return nil
		}
	}
	var was []string
	if old != "" {
		was = strings.Split(old, ",")
	}
	var changed []string
	for i, f := range files {
		if i >= len(was) || was[i] != fileDigest(project, service, f) {
			changed = append(changed, f.Kind+" "+f.Key)
		}
	}
	if len(changed) == 0 && len(was) > len(files) {
		changed = append(changed, "secrets and configs")
	}
	return changed
}
