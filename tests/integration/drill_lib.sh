# drill_lib.sh: what the lab drill tests share (test_drill_short.sh, test_site_loss.sh,
# test_link_cut.sh): they run deploy/drill.sh or deploy/drill/siteloss.sh in the namespace lab.
# Source it as `. drill_lib.sh BUILD_DIR NAME PREFIX BINARY...`: it sets BUILD and ROOT, exports
# CALLRAFT_BUILD and CALLRAFT_LAB_NS (PREFIX and the shell's pid, so runs never share
# namespaces), makes OUT (/tmp/callraft-NAME.*: deleted on success, kept and named on failure),
# and fails unless every BINARY was built. drill_netns tells whether network namespaces work here.
set -euo pipefail
BUILD=$(cd "${1:?usage: test_x.sh BUILD_DIR}" && pwd)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT=$(mktemp -d "/tmp/callraft-$2.XXXXXX")
export CALLRAFT_BUILD=$BUILD CALLRAFT_LAB_NS=$3$$
for b in "${@:4}"; do
  [ -x "$BUILD/$b" ] || { echo "FAIL: $BUILD/$b not built"; exit 1; }
done

# 0 if network namespaces can be created and entered here. Both must work: in a chroot `ip netns
# add` may succeed while `ip netns exec` fails ("mount --make-rslave /" needs / to be a mount
# point). Leaves the system as it found it (`ip netns add` may have mounted /run/netns).
drill_netns() {
  local mounted=0 probe="$CALLRAFT_LAB_NS-probe"
  mountpoint -q /run/netns 2>/dev/null && mounted=1
  if ip netns add "$probe" 2>/dev/null && ip netns exec "$probe" true 2>/dev/null; then
    ip netns delete "$probe"
    return 0
  fi
  ip netns delete "$probe" 2>/dev/null || true
  [ $mounted = 1 ] || umount /run/netns 2>/dev/null || true
  return 1
}

# A sanitizer's report in any node's log (the lab's nodeN/log under OUT) fails the test, as lib.sh
# does for the other tests: a node that aborts at its shutdown fails no step of a drill by itself.
drill_cleanup() {
  local rc=$? report
  report=$(grep -rl --include=log -E "ERROR: (Address|Leak)Sanitizer|runtime error:" "$OUT" 2>/dev/null |
    head -1 || true)
  if [ -n "$report" ]; then
    echo "--- sanitizer report in $report:" >&2
    grep -m1 -A 30 -E "ERROR: (Address|Leak)Sanitizer|runtime error:" "$report" >&2 || true
    echo "FAIL: ${0##*/}: sanitizer report in ${report#"$OUT"/}" >&2
    [ $rc -ne 0 ] || rc=1
  fi
  [ $rc -eq 0 ] && rm -rf "$OUT" || echo "--- drill output kept in $OUT" >&2
  exit $rc
}
trap drill_cleanup EXIT
