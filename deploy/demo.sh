#!/usr/bin/env bash
# demo.sh: the main job. Installs what is needed, builds, starts a local 2+2+1 cluster (Tehran,
# Shiraz, witness) of real callraftd processes on loopback, and drives contact-center traffic
# through it from both call-center sites; prints the wallboard's URL. The cluster keeps running afterwards (deploy/cluster.sh
# status / down).
#   DEMO_DURATION (default 30 s), DEMO_RATE (calls/s per site, default 10), DEMO_LAYOUT (2+2+1).
set -euo pipefail
cd "$(dirname "$0")/.."
./deploy/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
./deploy/cluster.sh up "${DEMO_LAYOUT:-2+2+1}"
cluster=$(./deploy/cluster.sh addresses)
# The wallboard: every node serves it; it moves to another node by itself when this one dies.
wallboard="https://$(./deploy/cluster.sh http-addresses | cut -d, -f1)/"
echo -e "demo.sh: the live wallboard: $wallboard (?lang=fa: in Persian, right to left);\n  mutual TLS: the browser presents a client certificate, e.g. lab/local/certs/supervisor.crt/.key\n  bundled with: openssl pkcs12 -export -in lab/local/certs/supervisor.crt -inkey lab/local/certs/supervisor.key -out supervisor.p12"
# Mutual TLS everywhere (cluster.sh made the CA and certificates in lab/local/certs): the CLI runs
# as the admin, the traffic with a pbx+agent+supervisor certificate.
eval "$(./deploy/cluster.sh env admin)"
./build/callraft --cluster "$cluster" status
eval "$(./deploy/cluster.sh env traffic)"
./build/callraft-traffic demo --cluster "$cluster" --sites tehran,shiraz \
  --rate "${DEMO_RATE:-10}" --duration "${DEMO_DURATION:-30}"
eval "$(./deploy/cluster.sh env admin)"
./build/callraft --cluster "$cluster" status
for q in sales after-sales roadside; do ./build/callraft --cluster "$cluster" queue show "$q" --limit 5; done
echo
echo "demo.sh: the cluster is still running (mutual TLS): eval \"\$(./deploy/cluster.sh env)\""
echo "demo.sh: the live wallboard: $wallboard"
echo "demo.sh: try ./build/callraft status, ./deploy/cluster.sh kill 1, ./deploy/cluster.sh down"
