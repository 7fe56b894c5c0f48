// Package packaging holds what the Linux packages install besides the
// binaries: systemd units, example configuration files and the maintainer
// script sources under linux/, embedded so the packager needs no checkout
// layout at run time.
//
// The Go code that builds deb, rpm and apk packages from them lives in
// packaging/internal/pkg; the command is packaging/cmd/fleetproof-package
// ("make package"). README.md in this directory is the IT admin's guide.
package packaging
