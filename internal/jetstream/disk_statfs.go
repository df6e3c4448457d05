//go:build linux || darwin

package jetstream

import "syscall"

// freeBytes returns the bytes of dir's filesystem free for unprivileged
// writers.
func freeBytes(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(uint64(st.Bavail) * uint64(st.Bsize)), nil
}
