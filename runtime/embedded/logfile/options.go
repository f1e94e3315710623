package logfile

import (
	"fmt"
	"strconv"

	units "github.com/docker/go-units"

	"github.com/comp-dev/comp/runtime"
)

// ParseOptions reads the rotation settings of a service's logging options as Docker's json-file
// driver does: max-size ("100k", "10m", "1g": binary units; absent: never rotate) and max-file
// (the number of files kept, at least 1, only with max-size; absent: 1). Other options are
// ignored. Errors are runtime.ErrInvalidArgument.
func ParseOptions(opts map[string]string) (maxSize int64, maxFiles int, err error) {
	maxFiles = 1
	if s, ok := opts["max-size"]; ok {
		maxSize, err = units.RAMInBytes(s)
		if err != nil || maxSize <= 0 {
			return 0, 0, runtime.Classify(runtime.ErrInvalidArgument,
				fmt.Errorf("log option max-size %q: want a positive size such as 10m", s))
		}
	}
	if s, ok := opts["max-file"]; ok {
		maxFiles, err = strconv.Atoi(s)
		if err != nil || maxFiles < 1 {
			return 0, 0, runtime.Classify(runtime.ErrInvalidArgument,
				fmt.Errorf("log option max-file %q: want a positive number", s))
		}
		if maxFiles > 1 && maxSize == 0 {
			return 0, 0, runtime.Classify(runtime.ErrInvalidArgument,
				fmt.Errorf("log option max-file %q needs max-size", s))
		}
	}
	return maxSize, maxFiles, nil
}
