#!/usr/bin/env bash
# install-deps.sh: everything callraft needs on a fresh Debian 12 machine, from Debian's archive.
#
# Binary packages come from Debian 12. The one exception is canonical raft: Debian 12's libraft 0.15
# diverges replicas under network faults (see docs/design.md, "libraft: which build"), so we build raft
# 0.22.1 from Debian 13's *source* package (raft 0.22.1-1) against Debian 12's libraries and install it
# under /usr/local, where pkg-config finds it. The deb-src mirror is the machine's own apt mirror.
# deploy/raft-patches/ holds our fixes to two crash bugs in raft 0.22.1's legacy layer that the
# simulation (tests/sim) found; they are applied to Debian's source before building.
set -euo pipefail

RAFT_VERSION=0.22.1
RAFT_DEB_VERSION=0.22.1-1
PREFIX=${CALLRAFT_RAFT_PREFIX:-/usr/local}

need_root() { [ "$(id -u)" -eq 0 ] || { echo "install-deps: must run as root (apt-get)" >&2; exit 1; }; }

pkgs=(build-essential cmake pkg-config git dpkg-dev autoconf automake libtool patch
      libuv1-dev liblz4-dev liblmdb-dev lmdb-utils libprotobuf-c-dev protobuf-c-compiler
      libcmocka-dev libinih-dev libjson-c-dev iproute2 iptables procps psmisc python3
      strace # fault injection: tests/integration/test_disk_faults.sh
      faketime libfaketime # clock steps on a running leader: tests/integration/clock_jump.sh
      libwebsockets-dev libwebsockets-evlib-uv libssl-dev openssl curl
      chromium fonts-dejavu-core fonts-noto-core python3-websocket # tests/integration/test_wallboard.sh: the page in headless Chromium (Noto: Persian glyphs), driven over DevTools
      prometheus # promtool: tests/integration/test_metrics.sh checks /metrics and deploy/prometheus/
      clang libclang-rt-14-dev # clang + libFuzzer: tests/fuzz (the fuzz smoke runs where clang is)
      kamailio kamailio-extra-modules kamailio-utils-modules kamailio-json-modules sip-tester) # the SIP lab (deploy/lab/sip, docs/telephony.md): Kamailio + http_async_client/jansson, SIPp

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  need_root
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Our fixes to raft 0.22.1 (each patch says what it fixes and how it was found); the build applies
# them in order. The marker records which were applied, so a changed patch set rebuilds raft.
here=$(cd "$(dirname "$0")" && pwd)
patches=("$here"/raft-patches/*.patch)
patch_id=$(cat "${patches[@]}" | sha256sum | cut -c1-16)
marker=$PREFIX/share/callraft/raft-$RAFT_VERSION-patches
have_raft() {
  PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig pkg-config --exact-version="$RAFT_VERSION" raft 2>/dev/null &&
    [ "$(cat "$marker" 2>/dev/null)" = "$patch_id" ] && [ -f "$PREFIX/lib/libraft.a" ]
}
if have_raft; then
  exit 0
fi

need_root
# A deb-src entry for Debian 13 (trixie), taking the mirror from this machine's own apt sources.
mirror=$(grep -hoE '^URIs: *[^ ]+' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1 | awk '{print $2}' || true)
[ -n "$mirror" ] || mirror=$(grep -hoE '^deb +(\[[^]]*\] +)?[^ ]+' /etc/apt/sources.list 2>/dev/null | head -n 1 | awk '{print $NF}' || true)
[ -n "$mirror" ] || { echo "install-deps: cannot find this machine's Debian mirror in its apt sources" >&2; exit 1; }
cat > /etc/apt/sources.list.d/callraft-trixie-src.sources <<SRC
Types: deb-src
URIs: $mirror
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
apt-get update -q

work=$(mktemp -d /tmp/callraft-raft.XXXXXX)
trap 'rm -rf "$work"' EXIT
( cd "$work" && apt-get source -q --download-only "raft=$RAFT_DEB_VERSION" && dpkg-source -x --no-check raft_*.dsc src >/dev/null )
cd "$work/src"
for p in "${patches[@]}"; do
  patch -p1 --forward --quiet < "$p" || { echo "install-deps: raft patch '$p' does not apply" >&2; exit 1; }
done
autoreconf -i >/dev/null 2>&1
# The fixture (raft_fixture) is part of the library build; the tests use it for deterministic simulations.
# The static library is what the Debian package links (CALLRAFT_RAFT_STATIC, deploy/package/).
./configure --prefix="$PREFIX" --enable-uv --enable-fixture --disable-example --disable-benchmark \
  --enable-static >/dev/null
make -j"$(nproc)" >/dev/null
make install >/dev/null
ldconfig
mkdir -p "$(dirname "$marker")" && echo "$patch_id" > "$marker"
have_raft || { echo "install-deps: raft $RAFT_VERSION did not install" >&2; exit 1; }
echo "install-deps: raft $RAFT_VERSION installed under $PREFIX"
