// Package container runs comp's embedded containers with runc's libcontainer used as a library.
//
// The comp binary re-execs itself as each container's init (`/proc/self/fd/N init`), so main
// must call Init before anything else. A container is built from an OCI runtime spec carrying
// Docker's defaults (capabilities, masked and read-only /proc paths, devices, /dev/shm, the
// default seccomp profile) and converted with libcontainer's specconv, as `runc create` does.
// Containers are not children of a daemon: a Manager started later re-attaches to them with
// Load, from libcontainer's state folder.
//
// Importing the package keeps the main goroutine on the main thread (an init func calls
// runtime.LockOSThread): libcontainer moves some locked threads into a container's mount
// namespace and lets Go retire them, which Go cannot do with the main thread; left there, it
// would make /proc/self/mountinfo describe the container's mounts and break later starts.
//
// # Building
//
// libcontainer needs cgo (its nsenter constructor runs before the Go runtime). Seccomp needs
// the `seccomp` build tag and libseccomp (Debian: libseccomp-dev, which also ships the static
// libseccomp.a); without the tag containers run without a seccomp filter and SeccompSupported
// reports false.
//
// Config.Init bind-mounts the running binary (the supervisor's: comp's lean core, see package
// core) into the container as /sbin/comp-init, so the binary must not depend on a dynamic
// loader or shared libraries that the image may lack: it must be static. internal/buildcomp
// makes that static cgo build, with libcontainer and libseccomp:
//
//	go run ./internal/buildcomp -o comp   # -tags 'seccomp netgo osusergo'
//	                                      # -ldflags '-linkmode external -extldflags -static'
//
// netgo and osusergo keep glibc's NSS (getpwnam, getaddrinfo), which cannot be linked
// statically, out of the binary. Start with Config.Init on a dynamic binary fails with
// ErrNotStatic.
//
// # Cgroups
//
// Each container gets the cgroup /comp/<id> in every cgroup v1 hierarchy (and in the cgroup2
// hierarchy, unified or hybrid), managed by libcontainer's cgroupfs driver; the systemd driver
// is not used. Destroy removes the container's folders and the /comp parents it leaves empty.
package container
