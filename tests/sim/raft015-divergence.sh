#!/bin/sh
# raft015-divergence.sh: builds tests/sim/test_sim.c against Debian 12's libraft 0.15 and runs it,
# to show that the simulation catches the replica divergence docs/design.md describes ("libraft: which
# build"). Not part of ctest: it downloads libraft-dev and libraft2 0.15.0-1 from the Debian archive
# through apt (the machine's own apt sources must be Debian 12 / bookworm) and builds by hand.
#
# usage: tests/sim/raft015-divergence.sh [workdir]       (default /tmp/callraft-raft015)
# env:   CALLRAFT_SIM_SEEDS (default 200), CALLRAFT_SIM_SEED_FIRST, and the other knobs of
#        test_sim.c (CALLRAFT_SIM_CHAOS_STEPS, CALLRAFT_SIM_FAULT_PERMILLE, CALLRAFT_SIM_PROPOSE_EVERY).
# needs: apt-get, dpkg, gcc, protoc-c, liblmdb-dev, libprotobuf-c-dev, libcmocka-dev, libuv1-dev.
#
# Exit status: 0 if the simulation detected a divergence (what 0.15 is expected to show), 1 if it
# saw none, 2 if the set-up failed.
set -eu

src=$(cd "$(dirname "$0")/../.." && pwd)
work=${1:-/tmp/callraft-raft015}
version=0.15.0-1
arch=$(dpkg --print-architecture)
multiarch=$(gcc -print-multiarch)

mkdir -p "$work/debs" "$work/root" "$work/proto"
cd "$work/debs"
if ! ls libraft2_${version}_${arch}.deb libraft-dev_${version}_${arch}.deb >/dev/null 2>&1; then
	apt-get download "libraft2=$version" "libraft-dev=$version" || {
		echo "raft015-divergence: cannot download libraft $version (are the apt sources bookworm?)" >&2
		exit 2
	}
fi
for deb in libraft2_${version}_${arch}.deb libraft-dev_${version}_${arch}.deb; do
	dpkg -x "$deb" "$work/root"
done
lib="$work/root/usr/lib/$multiarch"
test -e "$lib/libraft.so.2" || { echo "raft015-divergence: no $lib/libraft.so.2" >&2; exit 2; }

# The protocol's C code, as the CMake build generates it.
protoc-c --c_out="$work/proto" --proto_path="$src/proto" "$src/proto/callraft.proto"

# test_sim.c selects its 0.15 code paths itself (raft.h 0.15 has no RAFT_VERSION_NUMBER);
# CALLRAFT_RAFT_015 is passed anyway so that the intent is explicit.
inc="-I$work/root/usr/include -I$src/state -I$src/proto -I$src/replication -I$work/proto"
# Warnings are the CMake build's business; this build keeps them in build.log.
gcc -std=gnu11 -O2 -g -D_GNU_SOURCE -DCALLRAFT_RAFT_015=1 \
	$inc -o "$work/test_sim_raft015" \
	"$src/tests/sim/test_sim.c" "$src/replication/fsm.c" "$src"/state/*.c "$src/proto/callraft_ops.c" "$work/proto/callraft.pb-c.c" \
	"$lib/libraft.so.2" -Wl,-rpath,"$lib" -llmdb -lprotobuf-c -lcmocka -luv >"$work/build.log" 2>&1 || {
	cat "$work/build.log" >&2
	echo "raft015-divergence: build failed" >&2
	exit 2
}
echo "raft015-divergence: linked against $(readlink -f "$lib/libraft.so.2")"

log="$work/test_sim_raft015.log"
cd "$work"
set +e
./test_sim_raft015 >"$log" 2>&1
set -e
# Keep the verdicts only.
grep -E '^\[ +(RUN|OK|FAILED|ERROR|LINE) +\]|^ERROR|^seed |^randomized:' "$log" || true
echo "raft015-divergence: full log in $log"
if grep -q -E 'diverged|applied different entries|replied differently|digests' "$log"; then
	echo "raft015-divergence: divergence detected on libraft $version"
	exit 0
fi
echo "raft015-divergence: no divergence detected on libraft $version" >&2
exit 1
