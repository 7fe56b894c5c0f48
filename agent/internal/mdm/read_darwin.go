//go:build darwin

package mdm

func readPlatform() (map[string]string, string, error) {
	m, err := ReadPlistFile(ManagedPlistPath)
	return m, ManagedPlistPath, err
}
