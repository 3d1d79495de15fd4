#!/bin/sh
# tools/dupcount.sh: how many duplicate-block pairs product source holds (issue 11's measure).
# Runs the `duplicates` command (the tool library's) over the repository and counts the pairs in
# which no side lies under tests/, deploy/, docs/, tools/, examples/ or web/. `--list` prints those
# rows as well. Run it from anywhere inside the checkout.
set -eu
cd "$(git rev-parse --show-toplevel)"
command -v duplicates >/dev/null 2>&1 || { echo "dupcount: the duplicates command is not on PATH" >&2; exit 2; }
rows=$(duplicates --most 200 --seconds 120 | grep -E '^D[0-9]+ ' |
  grep -vE '(^D[0-9]+ | ~ )(tests|deploy|docs|tools|examples|web)/' || true)
if [ "${1:-}" = "--list" ]; then [ -n "$rows" ] && printf '%s\n' "$rows"; fi
if [ -n "$rows" ]; then printf '%s\n' "$rows" | wc -l; else echo 0; fi
