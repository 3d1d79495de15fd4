#!/usr/bin/env bash
# deb_in_root.sh PKG_A PKG_B: run by test_deb_fresh.sh inside a pristine Debian 12 root (as root,
# no systemd running). Installs package A with apt, checks what it put in place, starts callraftd as
# the unit's ExecStart would, as the callraft user, and writes a call; upgrades to B (the same
# version, another build) with dpkg and checks the binary was replaced while the data and a local
# change to the conffile were kept; purges and checks the user, data and configuration are gone.
set -euo pipefail
a=$1 b=$2 base=${3:-11000}
say() { echo "deb: $*"; }
fail() { echo "deb: FAIL: $*" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
# fresh-debian's root directory is a mktemp -d (0700): as on any installed system, / is 0755, or
# no user but root can reach a file.
chmod 0755 /

say "apt install $a"
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "$a" >/tmp/apt.log 2>&1 || { tail -20 /tmp/apt.log; fail "apt install"; }
getent passwd callraft >/dev/null || fail "no callraft user"
[ "$(stat -c '%U:%G %a' /var/lib/callraft)" = "callraft:callraft 750" ] || fail "/var/lib/callraft: $(stat -c '%U:%G %a' /var/lib/callraft)"
[ "$(stat -c '%U:%G %a' /etc/callraft/node.ini)" = "root:callraft 640" ] || fail "node.ini: $(stat -c '%U:%G %a' /etc/callraft/node.ini)"
unit=/lib/systemd/system/callraftd.service
[ -f "$unit" ] || fail "no unit"
grep -qx '/etc/callraft/node.ini' /var/lib/dpkg/info/callraft.conffiles || fail "node.ini is not a conffile"
ldd /usr/bin/callraftd | grep -q libraft && fail "callraftd needs a shared libraft"

say "systemd-analyze verify the unit"
apt-get install -y -q --no-install-recommends systemd >/tmp/apt2.log 2>&1 || { tail -20 /tmp/apt2.log; fail "apt install systemd"; }
systemd-analyze verify "$unit" || fail "systemd-analyze verify"
[ -L /etc/systemd/system/multi-user.target.wants/callraftd.service ] || say "(unit not enabled: systemctl was absent at install)"

# The root shares the host's network: the node takes ports of the tester's CALLRAFT_PORT_BASE (a
# local change to the conffile, which the upgrade must keep).
sed -i "s/127.0.0.1:7001/127.0.0.1:$((base + 1))/; s/127.0.0.1:8001/127.0.0.1:$((base + 101))/; s/127.0.0.1:8080/127.0.0.1:$((base + 201))/" /etc/callraft/node.ini
client=127.0.0.1:$((base + 101))
# TLS is on by default: postinst made this machine's CA and certificates; the CLI is the admin.
for f in ca.crt node1.crt node1.key admin.crt admin.key; do [ -s /etc/callraft/tls/$f ] || fail "postinst made no /etc/callraft/tls/$f"; done
[ "$(stat -c '%U:%G %a' /etc/callraft/tls/node1.key)" = "root:callraft 640" ] || fail "node1.key: $(stat -c '%U:%G %a' /etc/callraft/tls/node1.key)"
[ "$(stat -c '%a' /etc/callraft/tls/ca.key)" = 600 ] || fail "ca.key is not root's alone"
export CALLRAFT_TLS_CA=/etc/callraft/tls/ca.crt CALLRAFT_TLS_CERT=/etc/callraft/tls/admin.crt CALLRAFT_TLS_KEY=/etc/callraft/tls/admin.key

# ExecStart, as the unit's User= would run it (no systemd runs in this root).
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
user=$(sed -n 's/^User=//p' "$unit")
start_node() {
  setpriv --reuid "$user" --regid "$user" --init-groups -- $exec_start >>/tmp/callraftd.log 2>&1 &
  pid=$!
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; callraft --cluster "$client" --timeout 1000 status >/dev/null 2>&1 && return 0; sleep 0.2; done
  cat /tmp/callraftd.log; fail "callraftd did not serve"
}
stop_node() { kill -TERM "$pid"; wait "$pid" || true; }

say "start callraftd as $user: $exec_start"
start_node
[ "$(awk '/^Uid:/ {print $3}' "/proc/$pid/status")" = "$(id -u "$user")" ] || fail "callraftd does not run as $user"
callraft --cluster "$client" call enqueue --call-id deb-1 --queue sales --caller +982100000001 >/dev/null
grep -q 'event=started' /tmp/callraftd.log || { cat /tmp/callraftd.log; fail "no started event in the log"; }
stop_node

say "upgrade: dpkg -i $b (same version, another build); node.ini changed locally"
echo "; changed by the operator" >>/etc/callraft/node.ini
sum_b=$(dpkg-deb --fsys-tarfile "$b" | tar -xO ./usr/bin/callraftd | sha256sum | cut -d' ' -f1)
[ "$(sha256sum /usr/bin/callraftd | cut -d' ' -f1)" != "$sum_b" ] || fail "A and B have the same callraftd"
dpkg -i "$b" >/tmp/dpkg.log 2>&1 || { cat /tmp/dpkg.log; fail "dpkg -i B"; }
[ "$(sha256sum /usr/bin/callraftd | cut -d' ' -f1)" = "$sum_b" ] || fail "callraftd not replaced by B's"
grep -q '^; changed by the operator' /etc/callraft/node.ini || fail "the local change to node.ini was lost"
start_node
# The restarted node elects itself first: retry the read until it leads.
for _ in $(seq 50); do
  shown=$(callraft --cluster "$client" --timeout 2000 call show deb-1 2>&1 || true)
  echo "$shown" | grep -qi waiting && break
  sleep 0.2
done
echo "$shown" | grep -qi waiting || fail "call deb-1 lost in the upgrade: $shown"
stop_node

say "purge"
apt-get purge -y -q callraft >/tmp/purge.log 2>&1 || { cat /tmp/purge.log; fail "purge"; }
getent passwd callraft >/dev/null && fail "user callraft still there"
getent group callraft >/dev/null && fail "group callraft still there"
[ ! -e /var/lib/callraft ] || fail "/var/lib/callraft still there"
[ ! -e /etc/callraft ] || fail "/etc/callraft still there"
say "PASS"
