#!/usr/bin/env bash
# long_run.sh: the crash simulation's long run (issue 18), in bounded chunks of seeds, until a
# deadline. Each chunk is one run of test_sim_crash's case crash_restart_many_seeds; its verdict
# line, its coverage line and the line of every failed seed are appended to the results file, so an
# interrupted run loses at most the chunks in progress, and `--summary` adds the chunks up.
#
#   tests/sim/long_run.sh [options]            run chunks until the deadline or the last seed
#   tests/sim/long_run.sh --summary RESULTS    totals of a results file
#
# Options (all bounded):
#   --bin PATH        test_sim_crash to run (default build/tests/test_sim_crash; copy it elsewhere
#                     first if the build may change during the run)
#   --first N         first seed (default 401, the first after the CI seeds)
#   --seeds N         seeds in all (default 100000)
#   --chunk N         seeds per chunk (default 100)
#   --jobs N          chunks run at once (default 1; each is one process at nice 19)
#   --deadline TIME   stop by then (anything `date -d` reads, e.g. "16:00 UTC"; default in 1 hour):
#                     no chunk starts after it, and a chunk still running then is stopped and
#                     recorded as interrupted (its seeds are not counted)
#   --out FILE        results file (default long_run.results in the current directory)
#
# The nodes' directories go to CALLRAFT_SIM_TMPDIR (default /dev/shm here: a tmpfs spares the disk).
# Results lines: "chunk FIRST LAST STATUS WALL_S CPU_S" (CPU: user + system of the chunk's
# processes, by /usr/bin/time; "-" without it), then the test's "crash: ..." lines and its
# "seed N: <failure>" lines, each prefixed with "FIRST: ".
set -euo pipefail

bin=build/tests/test_sim_crash
first=401
seeds=100000
chunk=100
jobs=1
deadline=$(date -u -d '+1 hour' +%s)
out=long_run.results

summary() {
	awk '
	/^chunk / {
		if ($4 == "done") { chunks++; seeds += $3 - $2 + 1; secs += $5; cpu += $6
			if (lo == "" || $2 < lo) lo = $2; if ($3 > hi) hi = $3 }
		else interrupted++
		next }
	/ crash: [0-9]+\/[0-9]+ seeds passed/ {
		split($3, pn, "/"); passed += pn[1]; next }
	/ crash: coverage:/ {
		line = $0; sub(/^[0-9]+: crash: coverage: /, "", line)
		n = split(line, parts, ", ")
		for (i = 1; i <= n; i++) {
			m = match(parts[i], / [0-9]+$/)
			name = substr(parts[i], 1, m - 1); val = substr(parts[i], m + 1)
			if (!(name in cov)) order[++norder] = name
			cov[name] += val
		}
		next }
	/ seed [0-9]+: / && !/ seed [0-9]+: ok / { fails[++nfails] = $0 }
	END {
		printf "chunks completed: %d (%d interrupted, not counted)\n", chunks, interrupted
		printf "seeds run: %d (within %s..%s), passed: %d, failed: %d\n", seeds, lo, hi, passed,
		       seeds - passed
		printf "time: %.0f s wall (summed over the jobs), %.0f s CPU, %.3f s CPU a seed\n", secs, cpu,
		       (seeds > 0 ? cpu / seeds : 0)
		for (i = 1; i <= nfails; i++) print "failure: " fails[i]
		printf "coverage:"
		for (i = 1; i <= norder; i++) printf "%s %s %d", (i > 1 ? "," : ""), order[i], cov[order[i]]
		printf "\n"
	}' "$1"
}

while [ $# -gt 0 ]; do
	case "$1" in
	--summary) summary "$2"; exit 0 ;;
	--bin) bin=$2; shift 2 ;;
	--first) first=$2; shift 2 ;;
	--seeds) seeds=$2; shift 2 ;;
	--chunk) chunk=$2; shift 2 ;;
	--jobs) jobs=$2; shift 2 ;;
	--deadline) deadline=$(date -u -d "$2" +%s); shift 2 ;;
	--out) out=$2; shift 2 ;;
	*) echo "long_run.sh: unknown option '$1'" >&2; exit 2 ;;
	esac
done
[ -x "$bin" ] || { echo "long_run.sh: no test binary '$bin'" >&2; exit 2; }
[ "$chunk" -ge 1 ] && [ "$chunk" -le 10000 ] && [ "$jobs" -ge 1 ] && [ "$jobs" -le 8 ] ||
	{ echo "long_run.sh: --chunk 1..10000, --jobs 1..8" >&2; exit 2; }
export CALLRAFT_SIM_TMPDIR=${CALLRAFT_SIM_TMPDIR:-/dev/shm}
export CALLRAFT_SIM_FILTER='crash_restart*'
unset CALLRAFT_SIM_VERBOSE CALLRAFT_SIM_TRACE CALLRAFT_SIM_BREAK CALLRAFT_SIM_DURATION_MS
logdir=$(mktemp -d "${TMPDIR:-/tmp}/long_run.XXXXXX")
echo "# long_run.sh $(date -u +%FT%TZ): bin $bin, seeds $first..$((first + seeds - 1)), chunk $chunk," \
	"jobs $jobs, deadline $(date -u -d "@$deadline" +%FT%TZ), raft patches" \
	"$(cat /usr/local/share/callraft/raft-0.22.1-patches 2>/dev/null || echo unknown)" >>"$out"

# Worker w runs chunks w, w + jobs, w + 2 jobs, ... Each chunk's output goes to the results file in
# one append under a lock, so the workers' lines never interleave.
worker() {
	local w=$1 f last t0 t1 rc left status cpu timer=()
	if [ -x /usr/bin/time ]; then
		timer=(/usr/bin/time -f '%U %S' -o "$logdir/$w.time")
	fi
	for ((f = first + w * chunk; f < first + seeds; f += jobs * chunk)); do
		last=$((f + chunk - 1))
		[ "$last" -lt $((first + seeds)) ] || last=$((first + seeds - 1))
		left=$((deadline - $(date +%s)))
		[ "$left" -gt 10 ] || break
		t0=$(date +%s)
		rc=0
		CALLRAFT_SIM_SEED_FIRST=$f CALLRAFT_SIM_SEEDS=$((last - f + 1)) \
			"${timer[@]}" timeout -s TERM -k 10 "$left" nice -n 19 "$bin" >"$logdir/$f.log" 2>&1 ||
			rc=$?
		t1=$(date +%s)
		cpu=-
		[ ${#timer[@]} -eq 0 ] || cpu=$(awk '/^[0-9.]+ [0-9.]+$/ { printf "%.1f", $1 + $2 }' "$logdir/$w.time")
		status=done
		# 124/137: stopped at the deadline; any other status is the test's verdict (a failed
		# seed makes the case fail), recorded by its lines below.
		if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] || ! grep -q '^crash: [0-9]*/' "$logdir/$f.log"; then
			status=interrupted
		fi
		{
			flock 9
			echo "chunk $f $last $status $((t1 - t0)) ${cpu:--}"
			if [ "$status" = done ]; then
				grep -E '^(crash: |seed [0-9]+: )' "$logdir/$f.log" | sed "s/^/$f: /"
			fi
		} 9>>"$out" >>"$out"
		rm -f "$logdir/$f.log"
	done
}

pids=()
for ((w = 0; w < jobs; w++)); do
	worker "$w" &
	pids+=($!)
done
trap 'kill "${pids[@]}" 2>/dev/null' TERM INT
wait "${pids[@]}" || true
rmdir "$logdir" 2>/dev/null || true
summary "$out"
