// Command fleetproof-package builds the deb, rpm and apk packages of the
// Fleetproof agent and collector from already built linux binaries:
//
//	fleetproof-package -version v1.2.3 -arch amd64 \
//	    -agent bin/fleetproof-agent -collector bin/fleetproof-collector -out dist
//
// "make package" cross-compiles the binaries and runs it per architecture.
// See packaging/README.md for what the packages do on install and removal.
package main
