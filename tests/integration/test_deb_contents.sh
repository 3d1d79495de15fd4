#!/usr/bin/env bash
# The Debian package's structure (deploy/package/): build-deb.sh builds it, and dpkg-deb --info and
# --contents show the programs, library, headers, unit, conffile, docs and maintainer scripts, the
# dependencies the node needs at run time (the libuv plugin of libwebsockets, adduser for postinst),
# and a callraftd with no shared libraft (raft is linked statically). The install, upgrade and purge
# in a fresh Debian 12 root is tests/package/test_deb_fresh.sh (opt-in: minutes).
source "$(dirname "$0")/lib.sh"

step "build the package"
deb=$(CALLRAFT_JOBS=$(nproc) "$ROOT/deploy/package/build-deb.sh" "$BUILD/deb")
[ -f "$deb" ] || fail "no package built"
info=$(dpkg-deb --info "$deb")
raw=$(dpkg-deb --contents "$deb")
contents=$(echo "$raw" | awk '{print $1, $NF}')

step "control: package, dependencies, maintainer scripts, conffile"
echo "$info" | grep -q '^ Package: callraft$' || fail "package name"
for dep in adduser libwebsockets-evlib-uv libuv1 liblmdb0 libprotobuf-c1 libwebsockets17; do
  echo "$info" | grep -E '^ Depends:' | grep -q "$dep" || fail "Depends lacks $dep"
done
echo "$info" | grep -E '^ Depends:' | grep -q libraft && fail "Depends names a libraft"
for s in postinst prerm postrm conffiles; do
  echo "$info" | grep -qE "^ +[0-9]+ bytes, +[0-9]+ lines +\*? +$s" || fail "no $s"
done
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | grep -qx /etc/callraft/node.ini || fail "node.ini is not a conffile"

step "contents"
for f in ./usr/bin/callraftd ./usr/bin/callraft ./usr/include/callraft/callraft_client.h \
         ./usr/lib/systemd/system/callraftd.service ./etc/callraft/node.ini \
         ./usr/share/doc/callraft/operations.md; do
  echo "$contents" | grep -q " $f$" || fail "missing $f"
done
echo "$raw" | grep -qE ' \./usr/lib/[a-z0-9_-]+/libcallraft\.so\.0 -> libcallraft\.so\.0\.' ||
  fail "missing libcallraft.so.0"
echo "$contents" | grep -qE '^-rwxr-xr-x \./usr/bin/callraftd$' || fail "callraftd not 0755"
unit=$(dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/lib/systemd/system/callraftd.service)
echo "$unit" | grep -qx 'ExecStart=/usr/bin/callraftd --config /etc/callraft/node.ini' || fail "unit ExecStart"
echo "$unit" | grep -qx 'User=callraft' || fail "unit User"
echo "$unit" | grep -qx 'DynamicUser=no' || fail "unit DynamicUser"
tmp=$(mktemp -d)
dpkg-deb --fsys-tarfile "$deb" | tar -C "$tmp" -x ./usr/bin/callraftd
readelf -d "$tmp/usr/bin/callraftd" | grep -q 'NEEDED.*libraft' && fail "callraftd needs a shared libraft"
rm -rf "$tmp"
echo "ok: $(basename "$deb"): $(echo "$contents" | wc -l) entries"
