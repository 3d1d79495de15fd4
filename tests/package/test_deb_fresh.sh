#!/usr/bin/env bash
# test_deb_fresh.sh: the Debian package in a pristine Debian 12 root (opt-in: a few minutes; not in
# CI; run as root on a machine with ../shared/tools/fresh-debian or FRESH_DEBIAN set):
#   CALLRAFT_PORT_BASE=11000 tests/package/test_deb_fresh.sh   (the root shares the host's network)
# Builds the package twice (A, then B: the same version with a changed build: B's callraftd carries
# an extra note section), then in a fresh root: apt install A, checks, start as the unit would,
# upgrade to B, purge (tests/package/deb_in_root.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
fresh=${FRESH_DEBIAN:-$root/../../shared/tools/fresh-debian}
[ -x "$fresh" ] || fresh=/work/shared/tools/fresh-debian
work=$(mktemp -d /tmp/callraft-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT

a=$("$root/deploy/package/build-deb.sh" "${CALLRAFT_DEB_BUILD:-$root/build-deb}")
# B: A with callraftd rebuilt as another build would be (one more ELF note), same version.
dpkg-deb -R "$a" "$work/b"
echo "test_deb_fresh build B $(date -u +%FT%TZ)" >"$work/note"
objcopy --add-section .note.callraft-build="$work/note" "$work/b/usr/bin/callraftd"
(cd "$work/b" && find usr etc -type f -exec md5sum {} + >DEBIAN/md5sums)
dpkg-deb -b --root-owner-group "$work/b" "$work/b.deb" >/dev/null

# fresh-debian clones a repository into the root: a throwaway clone that also holds both packages.
git clone -q "$root" "$work/repo"
mkdir -p "$work/repo/pkg" && cp "$a" "$work/repo/pkg/a.deb" && cp "$work/b.deb" "$work/repo/pkg/b.deb"
cp "$root/tests/package/deb_in_root.sh" "$work/repo/pkg/"
git -C "$work/repo" add -f pkg && git -C "$work/repo" -c user.name=t -c user.email=t@t commit -qm "packages under test"
"$fresh" --repo "$work/repo" -- bash pkg/deb_in_root.sh ./pkg/a.deb ./pkg/b.deb "${CALLRAFT_PORT_BASE:-11000}"
