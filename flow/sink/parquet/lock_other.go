//go:build !unix

package parquet

import "os"

// lockFile opens path; without flock, nothing stops a second process with
// the same writer id.
func lockFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
}
