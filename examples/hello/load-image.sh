#!/bin/sh
# Builds the image examples/hello runs, comp-example/busybox:latest, from the host's
# /bin/busybox (Debian: apt-get install busybox-static) as a docker-archive tarball, and loads
# it into the runtime: `comp image load` for the embedded runtime (the default), `docker load`
# with RUNTIME=docker. No registry is needed.
set -eu
runtime=${RUNTIME:-${COMP_RUNTIME:-embedded}}
comp=${COMP:-comp}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"
mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/archive"
cp /bin/busybox "$root/bin/busybox"
for applet in $(/bin/busybox --list); do
	[ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
echo 'nobody:x:65534:65534:nobody:/:/bin/false' >>"$root/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\n' >"$root/etc/group"
chmod 1777 "$root/tmp"
rmdir "$root/archive"

# A docker-archive: the layer, the image config naming the layer's digest, and a manifest.
tar -C "$root" --numeric-owner --owner=0 --group=0 -cf "$work/layer.tar" .
diff_id="sha256:$(sha256sum "$work/layer.tar" | cut -d' ' -f1)"
cat >"$work/config.json" <<JSON
{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":["$diff_id"]}}
JSON
cat >"$work/manifest.json" <<JSON
[{"Config":"config.json","RepoTags":["comp-example/busybox:latest"],"Layers":["layer.tar"]}]
JSON
tar -C "$work" -cf "$work/image.tar" manifest.json config.json layer.tar
if [ "$runtime" = docker ]; then
	docker load -i "$work/image.tar"
else
	"$comp" --runtime embedded image load -i "$work/image.tar"
fi
