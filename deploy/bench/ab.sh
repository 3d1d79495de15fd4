#!/usr/bin/env bash
# ab.sh: two revisions side by side in one run, to show that a change costs nothing (or what it
# costs). Each revision is built from `git archive` in a directory of its own; then, ROUNDS times,
# alternately for each: a fresh `deploy/cluster.sh up 1+1+1` of that revision (its own cluster.sh,
# configs and data), `callraft bench --workload enqueue` at the given client counts with that
# revision's CLI, and a wipe. Alternating spreads the machine's noise over both.
#
#   deploy/bench/ab.sh 0ea527c HEAD            # 2 rounds, 1 and 16 clients, 5 s each: ~2 min
#   ROUNDS=3 CLIENTS=1,16,64 deploy/bench/ab.sh REV_A REV_B
#
# Environment (defaults): ROUNDS (2), CLIENTS (1,16), DURATION (5 s per level), AB_DIR
# (/tmp/callraft-ab: builds are kept there and reused), CALLRAFT_PORT_BASE (15800).
# Every cluster it starts it wipes (deploy/cluster.sh stops the nodes by the PIDs it started).
# TLS: a revision whose cluster.sh makes certificates runs mutual TLS and its bench presents that
# cluster's admin certificate (CALLRAFT_TLS_CA/CERT/KEY); CALLRAFT_INSECURE=1 runs plain TCP.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
[ $# -eq 2 ] || { sed -n 2,15p "$0" >&2; exit 2; }
dir=${AB_DIR:-/tmp/callraft-ab}
rounds=${ROUNDS:-2}
export CALLRAFT_PORT_BASE=${CALLRAFT_PORT_BASE:-15800}

build_rev() { # rev -> prints the source directory (built)
  local sha src
  sha=$(git -C "$here" rev-parse --short=12 "$1^{commit}")
  src=$dir/$sha
  if [ ! -x "$src/build/callraftd" ] || [ ! -x "$src/build/callraft" ]; then
    mkdir -p "$src"
    git -C "$here" archive "$sha" | tar -x -C "$src"
    cmake -S "$src" -B "$src/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    nice -n 10 cmake --build "$src/build" -j2 --target callraftd callraft >/dev/null
  fi
  # Since the bench moved to tools/, `callraft bench` runs callraft-bench from beside the CLI.
  if [ -d "$src/tools" ] && [ ! -x "$src/build/callraft-bench" ]; then
    nice -n 10 cmake --build "$src/build" -j2 --target callraft-bench >/dev/null
  fi
  echo "$src"
}

srcs=()
for rev in "$@"; do srcs+=("$(build_rev "$rev")"); done
for r in $(seq 1 "$rounds"); do
  for i in 0 1; do
    src=${srcs[$i]}
    export CALLRAFT_LAB=$src/lab CALLRAFT_BUILD=$src/build
    rm -rf "$CALLRAFT_LAB"
    unset CALLRAFT_TLS_CA CALLRAFT_TLS_CERT CALLRAFT_TLS_KEY # not the other revision's certificates
    bash "$src/deploy/cluster.sh" up 1+1+1 >/dev/null
    # Revisions from before TLS make no certificates and run plain TCP (the header says which:
    # against a TLS revision that is TLS's cost too; CALLRAFT_INSECURE=1 puts both on plain TCP).
    transport="plain TCP"
    if [ "${CALLRAFT_INSECURE:-0}" != 1 ] && [ -f "$CALLRAFT_LAB/certs/admin.crt" ]; then
      export CALLRAFT_TLS_CA=$CALLRAFT_LAB/certs/ca.crt CALLRAFT_TLS_CERT=$CALLRAFT_LAB/certs/admin.crt \
        CALLRAFT_TLS_KEY=$CALLRAFT_LAB/certs/admin.key
      transport=TLS
    fi
    echo "== round $r: $([ $i = 0 ] && echo "$1" || echo "$2") ($(basename "$src"), $transport)"
    timeout $((60 + 10 * ${DURATION:-5})) "$src/build/callraft" \
      --cluster "$(bash "$src/deploy/cluster.sh" addresses)" bench --workload enqueue \
      --clients "${CLIENTS:-1,16}" --duration "${DURATION:-5}" || echo "(bench failed)"
    bash "$src/deploy/cluster.sh" wipe >/dev/null
  done
done
