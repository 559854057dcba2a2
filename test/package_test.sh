#!/usr/bin/env bash
# test/package_test.sh: builds the Debian package (debian/, dpkg-buildpackage
# -us -uc -b), checks its file list, installs it into the system with
# `dpkg -i`, runs the pg_regress suite against that install (initdb,
# postgres and the library all from the system's directories), and removes
# the package again if it was not installed before.  Ends "package: ok" and
# exits 0 on success.  Run as root, or as a user with sudo.  Keeps its
# scratch directory on failure or when KEEP=1 (and says where).
#
# Installing into the system library directory is safe only while no
# server has the system's metrics_rollup.so loaded (rewriting a loaded
# library crashes it): our tests, benchmarks and the demo run servers from
# a private install (test/lib.sh mr_build_install), never from the system
# directory, so this holds for them; the script checks every process's
# mappings anyway and refuses to install if one has the library loaded.
# A lock file serialises concurrent runs on one machine.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

PKG=postgresql-15-metrics-rollup
mr_install_packages debhelper postgresql-server-dev-all dpkg-dev
sys_lib="$(pg_config --pkglibdir)"
sys_share="$(pg_config --sharedir)"
sys_bin="$(pg_config --bindir)"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/metrics_rollup_pkg.XXXXXX")"
chmod 755 "$tmp"	# the test user runs pg_regress in it
ok=0
installed_by_us=0

finish() {
	if [ "$installed_by_us" -eq 1 ]; then
		mr_log "removing $PKG (it was not installed before)"
		$MR_SUDO env DEBIAN_FRONTEND=noninteractive dpkg -r "$PKG" >/dev/null ||
			{ echo "package: could not remove $PKG"; ok=0; }
	fi
	if [ "$ok" -eq 1 ] && [ "${KEEP:-0}" != 1 ]; then
		rm -rf "$tmp"
	else
		mr_log "scratch kept in $tmp"
	fi
}
trap finish EXIT

# --- build ------------------------------------------------------------------
mr_log "building the package in $tmp"
mkdir -p "$tmp/src"
tar -C "$MR_REPO" --exclude=.git --exclude='tmp_*' --exclude=results --exclude='*.o' \
	--exclude='*.bc' --exclude='*.so' --exclude=log -cf - . | tar -C "$tmp/src" -xf -
(cd "$tmp/src" && DEB_BUILD_OPTIONS=nocheck dpkg-buildpackage -us -uc -b) >"$tmp/build.log" 2>&1 ||
	{ tail -n 30 "$tmp/build.log"; echo "package: dpkg-buildpackage failed"; exit 1; }
deb="$(ls "$tmp"/${PKG}_*.deb 2>/dev/null | head -n 1)"
[ -n "$deb" ] || { echo "package: no ${PKG}_*.deb built"; exit 1; }

# --- file list: exactly these, besides JIT bitcode --------------------------
expected="$(printf '%s\n' \
	"$sys_lib/metrics_rollup.so" \
	"$sys_share/extension/metrics_rollup--1.0--1.1.sql" \
	"$sys_share/extension/metrics_rollup--1.0.sql" \
	"$sys_share/extension/metrics_rollup--1.1--1.2.sql" \
	"$sys_share/extension/metrics_rollup.control" \
	/usr/share/doc/$PKG/README.md.gz \
	/usr/share/doc/$PKG/changelog.gz \
	/usr/share/doc/$PKG/copyright | sort)"
actual="$(dpkg-deb -c "$deb" | awk '$1 !~ /^d/ {sub(/^\./, "", $6); print $6}' |
	grep -v "^$sys_lib/bitcode/" | sort)"
if [ "$expected" != "$actual" ]; then
	diff <(echo "$expected") <(echo "$actual")
	echo "package: unexpected file list"
	exit 1
fi
mr_log "file list ok: $(echo "$actual" | wc -l) files (+ bitcode)"

# --- install ----------------------------------------------------------------
exec 9>"${TMPDIR:-/tmp}/metrics_rollup_pkg.lock"
flock 9
# (a mapping line ends with the path; a private install's path only ends
# like it, so the path must follow whitespace)
loaded="$($MR_SUDO sh -c "grep -lE '[[:space:]]$sys_lib/metrics_rollup[.]so\$' /proc/[0-9]*/maps 2>/dev/null" | head -n 3)"
if [ -n "$loaded" ]; then
	echo "package: a running process has $sys_lib/metrics_rollup.so loaded ($loaded); not installing"
	exit 1
fi
dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null | grep -q 'install ok installed' || installed_by_us=1
$MR_SUDO env DEBIAN_FRONTEND=noninteractive dpkg -i "$deb" >"$tmp/dpkg.log" 2>&1 ||
	{ cat "$tmp/dpkg.log"; echo "package: dpkg -i failed"; exit 1; }

# --- pg_regress against the system install ----------------------------------
work="$(mr_work_copy)"
mv "$work" "$tmp/regress"
mr_log "pg_regress with $sys_bin and the packaged library"
(cd "$tmp/regress" && mr_as_user "$MR_PGXS_SRC/test/regress/pg_regress" --inputdir=. \
	--bindir="$sys_bin" --temp-instance=./tmp_regress --temp-config=test/regress.conf \
	--no-locale --encoding=UTF8 --dbname=contrib_regression \
	$(cd "$tmp/regress" && for f in sql/*.sql; do basename "$f" .sql; done | sort)) \
	>"$tmp/regress.log" 2>&1
rc=$?
grep -E '\.\.\. (ok|FAILED)|^(not )?ok ' "$tmp/regress.log"
if [ "$rc" -ne 0 ]; then
	[ -f "$tmp/regress/regression.diffs" ] && head -c 10000 "$tmp/regress/regression.diffs"
	echo "package: pg_regress against the installed package failed"
	exit 1
fi
ok=1
echo "package: ok ($(basename "$deb"), $(grep -cE '\.\.\. ok|^ok ' "$tmp/regress.log") regression tests passed)"
