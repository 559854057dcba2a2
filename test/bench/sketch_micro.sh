#!/usr/bin/env bash
# test/bench/sketch_micro.sh: pure-C timing of the sketch add path.
#
# Builds test/bench/sketch_micro.c three times: against this tree's
# src/sketch_core.c with sketch_add (sorted store, one value at a time) and
# with the dense stage of sketch_agg (sketch_stage_add + sketch_stage_encode
# per group), and against the src/sketch_core.c of BEFORE (default: the 1.1
# dense core, the commit before the percentiles branch) as the baseline.
# Prints per data set the medians of RUNS interleaved rounds and the ratios to the
# baseline, and checks that the two add paths of this tree encode the same
# bytes (exit 1 if not).  Speed is never pass/fail.  No server needed.
#   bash test/bench/sketch_micro.sh [RUNS]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
runs="${1:-5}"
before="${BEFORE:-8768ae0542c76adb6cc00149c866524f823b3aab}"

dir="$(mktemp -d /tmp/sketch_micro.XXXXXX)"
trap 'rm -rf "$dir"' EXIT
mkdir "$dir/before"
git -C "$repo" show "$before:src/sketch_core.c" >"$dir/before/sketch_core.c"
git -C "$repo" show "$before:src/sketch_core.h" >"$dir/before/sketch_core.h"

cflags="-O2 -std=gnu99 -Wall -Wextra -Wno-unused-parameter"
gcc $cflags -I"$repo/src" -o "$dir/sorted" "$here/sketch_micro.c" "$repo/src/sketch_core.c" -lm
gcc $cflags -DSTAGED -I"$repo/src" -o "$dir/staged" "$here/sketch_micro.c" "$repo/src/sketch_core.c" -lm
gcc $cflags -I"$dir/before" -o "$dir/before_bin" "$here/sketch_micro.c" "$dir/before/sketch_core.c" -lm

# interleaved, one run of each binary per round, so that load on the
# shared machine hits all three alike; medians over the rounds
for _ in $(seq "$runs"); do
	"$dir/before_bin" 1 >>"$dir/before.out"
	"$dir/sorted" 1 >>"$dir/sorted.out"
	"$dir/staged" 1 >>"$dir/staged.out"
done

echo "rounds: $runs (medians, ms); baseline: sketch_core.c of ${before:0:12} (1.1 dense store)"
paste "$dir/before.out" "$dir/sorted.out" "$dir/staged.out" | awk -F '\t' '
	function median(list,   a, n, i, j, t) {
		n = split(list, a, " ")
		for (i = 2; i <= n; i++)
			for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) {
				t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
			}
		return a[int((n + 1) / 2)]
	}
	{
		if (!($1 in seen)) { seen[$1] = 1; order[++nsets] = $1 }
		b[$1] = b[$1] " " $2; so[$1] = so[$1] " " $5; st[$1] = st[$1] " " $8
		if ($6 != $9) bad[$1] = 1
	}
	END {
		for (k = 1; k <= nsets; k++) {
			name = order[k]
			mb = median(b[name]); ms = median(so[name]); mt = median(st[name])
			printf "%s\n", name
			printf "  baseline (before):      %9.1f ms\n", mb
			printf "  sketch_add, sorted:     %9.1f ms  ratio %.2f\n", ms, ms / mb
			printf "  staged (sketch_agg):    %9.1f ms  ratio %.2f  staged/sorted %.2f  bytes %s\n",
				mt, mt / mb, mt / ms, (name in bad ? "DIFFER from sketch_add" : "identical to sketch_add")
			if (name in bad) fail = 1
		}
		exit fail
	}'
