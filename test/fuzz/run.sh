#!/usr/bin/env bash
# test/fuzz/run.sh: build and run the libFuzzer target of the sketch decoders.
#
#   test/fuzz/run.sh [RUNS]     default 200000 runs, at most FUZZ_MAX_TIME s
#
# Builds test/fuzz/sketch_fuzz.c with src/sketch_core.c alone under
# clang-14 -fsanitize=fuzzer,address,undefined, writes the seed corpus
# (test/fuzz/sketch_seed.c, valid sketches from the encoder), fuzzes, and
# prints "fuzz: N execs, N crashes".  Exits 0 only when the run finished
# with no crash and at least FUZZ_MIN_EXECS executions.  Everything it
# writes goes under test/fuzz/build/.  See test/fuzz/README.md.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/../lib.sh"

runs="${1:-${FUZZ_RUNS:-200000}}"
max_time="${FUZZ_MAX_TIME:-120}"
min_execs="${FUZZ_MIN_EXECS:-100000}"
build="$here/build"
src="$MR_REPO/src"

mr_install_packages clang-14 libclang-rt-14-dev
mkdir -p "$build/corpus" "$build/artifacts"
rm -f "$build"/artifacts/*

# The sanitizers abort on the first finding (no recovery from UB).
cflags="-g -O1 -std=gnu99 -Wall -Wextra -Werror -Wno-unused-parameter -I$src"
san="-fsanitize=address,undefined -fno-sanitize-recover=all"
mr_log "fuzz: building sketch_fuzz"
clang-14 $cflags $san -fsanitize=fuzzer -o "$build/sketch_fuzz" \
	"$here/sketch_fuzz.c" "$src/sketch_core.c" -lm || mr_die "fuzz target build failed"
clang-14 $cflags $san -o "$build/sketch_seed" \
	"$here/sketch_seed.c" "$src/sketch_core.c" -lm || mr_die "seed generator build failed"
rm -rf "$build/seeds"
mkdir -p "$build/seeds"
"$build/sketch_seed" "$build/seeds" >&2 || mr_die "seed generator failed"

# New inputs go to build/corpus (kept between runs); seeds are read only.
mr_log "fuzz: $runs runs, at most ${max_time}s"
"$build/sketch_fuzz" -runs="$runs" -max_total_time="$max_time" -max_len=12000 \
	-print_final_stats=1 -artifact_prefix="$build/artifacts/" \
	"$build/corpus" "$build/seeds" >"$build/fuzz.log" 2>&1
rc=$?
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$build/fuzz.log" | tail -n 1)
execs="${execs:-0}"
crashes=$(find "$build/artifacts" -type f | wc -l)
if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ]; then crashes=1; fi	# died without an artifact
if [ "$crashes" -gt 0 ]; then
	grep -E 'ERROR|SUMMARY|property violated|runtime error' "$build/fuzz.log" | head -n 20
	ls "$build/artifacts"
fi
echo "fuzz: $execs execs, $crashes crashes (log: $build/fuzz.log)"
[ "$crashes" -eq 0 ] && [ "$execs" -ge "$min_execs" ]
