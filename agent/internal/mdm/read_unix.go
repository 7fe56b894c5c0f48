//go:build !darwin && !windows

package mdm

func readPlatform() (map[string]string, string, error) {
	return ReadManagedFile(ManagedDir)
}
