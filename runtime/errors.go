package runtime

import "errors"

// Error classes every backend maps its own errors onto, so callers decide with errors.Is and
// never by matching strings.
var (
	// ErrNotFound: the container, network, volume or image does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the object exists already, or is in a state that forbids the operation
	// (a name taken, a port already allocated, a network still in use).
	ErrConflict = errors.New("conflict")
	// ErrInvalidArgument: the request itself is wrong (a bad reference, a bad option).
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrUnavailable: the backend cannot be reached (engine down, registry unreachable).
	ErrUnavailable = errors.New("unavailable")
	// ErrNotImplemented: this backend does not support the operation yet.
	ErrNotImplemented = errors.New("not implemented")
)

// classified wraps an error so that errors.Is finds both the class and the original error.
type classified struct {
	class error
	err   error
}

func (c *classified) Error() string   { return c.err.Error() }
func (c *classified) Unwrap() []error { return []error{c.class, c.err} }

// Classify marks err as belonging to class (one of the Err… values above) while keeping its
// message and chain. It returns nil for a nil err.
func Classify(class, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, class) {
		return err
	}
	return &classified{class: class, err: err}
}
