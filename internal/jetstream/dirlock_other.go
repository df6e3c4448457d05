//go:build !unix

package jetstream

import (
	"fmt"
	"os"
)

// lockDir only creates dir: there is no advisory file lock here, so two
// servers on one data dir are not detected.
func lockDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	return nil, nil
}
