#!/usr/bin/env bash
# test/run_tests.sh: runs every test of metrics_rollup.
#
# Installs missing packages, builds (-Werror), installs, then runs the
# pg_regress suite (sql/, expected/) and the TAP suite (test/t/*.pl), each on
# a throwaway server with the extension preloaded; then `make lint` and the
# sketch decoder fuzz run (test/fuzz/run.sh), one count each (full runs
# only).  Works as root (servers run as "postgres") or as a user with sudo.
# Then the PostgreSQL 17 pass (test/pg17.sh: the same suite, its lines
# prefixed "pg17: ", in a Debian 13 root), or the line "PG 17 pass skipped:
# <reason>".  Ends with the line "N passed, N failed" (both passes) and
# exits non-zero when anything failed.
#
#   test/run_tests.sh                        everything
#   test/run_tests.sh sketch t/030_cleanup.pl   only these (developers)
#   test/run_tests.sh package                the Debian package test alone
#   KEEP=1 test/run_tests.sh ...             keep the scratch directories
#   MR_PG17=0 test/run_tests.sh              without the PG 17 pass
#   MR_PG17=1 test/run_tests.sh sketch       these, on PG 17 as well
#
# On success the scratch copy (/tmp/metrics_rollup.*) and the private
# install (/tmp/metrics_rollup_inst.*) are removed; on failure, or with
# KEEP=1, they are kept and the last line before the counts says where.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

mr_install_packages
mr_build_install
work="$(mr_work_copy)"
cd "$work" || exit 1
passed=0
failed=0

only_regress=""
only_tap=""
only_package=0
for a in "$@"; do
	case "$a" in
	package) only_package=1 ;;
	*.pl) only_tap="$only_tap test/t/$(basename "$a")" ;;
	*) only_regress="$only_regress $a" ;;
	esac
done

# --- pg_regress: one count per sql/*.sql file --------------------------------
tests=$(for f in sql/*.sql; do basename "$f" .sql; done | sort | tr '\n' ' ')
if [ $# -gt 0 ]; then tests="$only_regress"; fi
if [ -n "${tests// /}" ]; then
mr_log "pg_regress: $tests"
# shellcheck disable=SC2086
mr_as_user make -s -C "$work" installcheck TAP_TESTS= REGRESS="$tests" bindir="$MR_BINDIR" \
	EXTRA_REGRESS_OPTS="--no-locale --encoding=UTF8" 2>&1 | tee regress.log
p=$(grep -cE '^(ok|test) .*\.\.\. ok|^ok [0-9]+ ' regress.log)
f=$(grep -cE '\.\.\. FAILED|^not ok [0-9]+ ' regress.log)
if [ "$((p + f))" -eq 0 ]; then f=1; fi	# pg_regress itself failed
passed=$((passed + p))
failed=$((failed + f))
[ "$f" -gt 0 ] && [ -f regression.diffs ] && head -c 20000 regression.diffs
fi

# --- TAP: one count per assertion --------------------------------------------
taps=$(ls test/t/*.pl 2>/dev/null | tr '\n' ' ')
if [ $# -gt 0 ]; then taps="$only_tap"; fi
mr_log "TAP: $taps"
if [ -n "${taps// /}" ]; then
	mr_as_user make -s -C "$work" installcheck REGRESS= PROVE_TESTS="$taps" PROVE_FLAGS=-v \
		bindir="$MR_BINDIR" >tap.log 2>&1
	rc=$?
	grep -E '^test/t/.*\.pl|^(not )?ok [0-9]+|^#   Failed|Dubious|^Result' tap.log
	p=$(grep -cE '^ok [0-9]+' tap.log)
	f=$(grep -cE '^not ok [0-9]+' tap.log)
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi	# a script died
	passed=$((passed + p))
	failed=$((failed + f))
	if [ "$rc" -ne 0 ]; then
		tail -n 60 tap.log
		for l in tmp_check/log/*.log; do
			[ -f "$l" ] && { echo "--- $l (tail)"; tail -n 30 "$l"; }
		done
	fi
fi

# --- the demo, short: its own checks (no event lost, exact percentiles) ------
if [ $# -eq 0 ]; then
	mr_log "demo (short)"
	if bash "$MR_REPO/test/demo.sh" --short >demo.log 2>&1; then
		passed=$((passed + 1))
		echo "ok - demo --short: $(tail -n 1 demo.log)"
	else
		failed=$((failed + 1))
		echo "not ok - demo --short"
		tail -n 40 demo.log
	fi
fi

# --- static analysis: one count (make lint: cppcheck + clang-tidy) ----------
# Lint, fuzz and the package test read only our sources or build the PG 15
# package: the PG 17 pass (MR_PG17_INNER=1) leaves them to the PG 15 one.
if [ $# -eq 0 ] && [ "${MR_PG17_INNER:-0}" != 1 ]; then
	mr_install_packages cppcheck clang-tidy
	mr_log "lint: cppcheck + clang-tidy over src/*.c"
	if make -s -C "$work" lint >lint.log 2>&1; then
		passed=$((passed + 1))
		echo "ok - lint: $(tail -n 1 lint.log)"
	else
		failed=$((failed + 1))
		echo "not ok - lint"
		grep -E 'warning:|error:' lint.log | head -n 40
	fi
fi

# --- fuzzing: one count (>= 100000 inputs, 0 crashes; see test/fuzz/) ----
if [ $# -eq 0 ] && [ "${MR_PG17_INNER:-0}" != 1 ]; then
	mr_log "fuzz: sketch decoders"
	if bash test/fuzz/run.sh >fuzz.log 2>&1; then
		passed=$((passed + 1))
		echo "ok - $(grep '^fuzz:' fuzz.log)"
	else
		failed=$((failed + 1))
		echo "not ok - fuzz"
		tail -n 30 fuzz.log
	fi
fi

# --- the Debian package: build, dpkg -i, pg_regress on it (test/package_test.sh)
if { [ $# -eq 0 ] || [ "$only_package" -eq 1 ]; } && [ "${MR_PG17_INNER:-0}" != 1 ]; then
	mr_log "package: build, install, regression tests against the system install"
	if bash "$MR_REPO/test/package_test.sh" >package.log 2>&1; then
		passed=$((passed + 1))
		echo "ok - $(grep '^package:' package.log | tail -n 1)"
	else
		failed=$((failed + 1))
		echo "not ok - package"
		tail -n 40 package.log
	fi
fi

# --- PostgreSQL 17: the same suite in a Debian 13 root (test/pg17.sh) -------
if [ "${MR_PG17_INNER:-0}" = 1 ]; then
	:	# this is the PG 17 pass itself
elif [ $# -gt 0 ] && [ "${MR_PG17:-}" != 1 ]; then
	echo "PG 17 pass skipped: only named tests (MR_PG17=1 runs them on 17 too)"
else
	mr_log "PostgreSQL 17 pass (test/pg17.sh; MR_PG17=0 skips it)"
	bash "$MR_REPO/test/pg17.sh" "$@" 2>&1 | tee pg17.log
	counts=$(grep -E '^pg17: [0-9]+ passed, [0-9]+ failed$' pg17.log | tail -n 1)
	if [ -n "$counts" ]; then
		set -- $counts
		passed=$((passed + $2))
		failed=$((failed + $4))
	elif ! grep -q '^PG 17 pass skipped: ' pg17.log; then
		failed=$((failed + 1))
		echo "not ok - pg17: the PG 17 pass died"
		tail -n 30 pg17.log
	fi
fi

cd / || exit 1
if [ "$failed" -eq 0 ] && [ "${KEEP:-0}" != 1 ]; then
	rm -rf "$work"
	mr_remove_install
	mr_log "scratch removed ($work, $MR_INST)"
else
	mr_log "logs kept in $work (private install: $MR_INST)"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
