#!/usr/bin/env bash
# build-deb.sh [BUILD_DIR]: builds the Debian package callraft_<version>_<arch>.deb (CPack's DEB
# generator) in BUILD_DIR (default build-deb/), from this checkout:
#   /usr/bin/callraftd, callraft, callraft-traffic, callraft-bench; libcallraft.so, its headers and
#   callraft.pc; /lib/systemd/system/callraftd.service; /etc/callraft/node.ini (conffile);
#   /usr/share/doc/callraft/; maintainer scripts (deploy/package/postinst, prerm, postrm).
# raft 0.22.1 is linked statically (libraft.a from deploy/install-deps.sh). Prints the .deb's path.
# CALLRAFT_DEB_RELEASE (default 1) is the Debian revision (0.1.0-1).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$here/build-deb}
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
  -DCALLRAFT_DEB=ON -DCALLRAFT_RAFT_STATIC=ON \
  -DCPACK_DEBIAN_PACKAGE_RELEASE="${CALLRAFT_DEB_RELEASE:-1}" >/dev/null
# Only what the package installs (the tests are not built).
nice -n 10 cmake --build "$build" -j"${CALLRAFT_JOBS:-2}" \
  --target callraftd callraft callraft_shared callraft-traffic callraft-bench >/dev/null
# The static raft must not leave a run-time dependency on a libraft .so.
if readelf -d "$build/callraftd" | grep -q 'NEEDED.*libraft'; then
  echo "build-deb: callraftd still needs a shared libraft" >&2; exit 1
fi
(cd "$build" && cpack -G DEB >/dev/null)
ls "$build"/callraft_*.deb
