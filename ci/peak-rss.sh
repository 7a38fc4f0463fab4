#!/usr/bin/env bash
# peak-rss.sh CMD...: run CMD, sample once a second the summed RSS of CMD and
# all its descendants (ps), and print the peak and the wall time to stderr.
# GNU time's "Maximum resident set size" is the peak of the single largest
# process; this is the peak of the whole tree (parallel compiles + linker).
set -euo pipefail
[[ $# -gt 0 ]] || { echo "usage: $0 CMD..." >&2; exit 2; }
start=$(date +%s.%N)
"$@" &
pid=$!
peak=0
while kill -0 "$pid" 2>/dev/null; do
	kb=$(ps -e -o pid=,ppid=,rss= | awk -v root="$pid" '
		{ parent[$1] = $2; rss[$1] = $3 }
		END { for (p in rss) { q = p; while (q != "" && q != root && q != 1 && q != 0) q = parent[q]; if (q == root) s += rss[p] } print s + 0 }')
	(( kb > peak )) && peak=$kb
	sleep 1
done
rc=0; wait "$pid" || rc=$?
end=$(date +%s.%N)
printf '[peak-rss] exit %d, wall %.1f s, peak tree RSS %d MiB (sampled every 1 s)\n' "$rc" "$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')" $((peak / 1024)) >&2
exit "$rc"
