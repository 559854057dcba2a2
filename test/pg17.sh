#!/usr/bin/env bash
# test/pg17.sh: the PostgreSQL 17 pass of the test suite.
#
# Runs test/run_tests.sh (build, pg_regress, TAP, demo; lint, fuzz and the
# package test stay with the PG 15 pass) against PostgreSQL 17 inside a
# Debian 13 (trixie) root made with debootstrap, as the unprivileged user
# "postgres" of that root.  Every line of the inner run comes out prefixed
# "pg17: "; the last is "pg17: N passed, N failed".  When the pass cannot
# run (not root and no password-less sudo, no debootstrap, no mirror, no
# network) it prints "PG 17 pass skipped: <reason>" and exits 0: a skip is
# not a failure.  Exits 1 when the pass ran and something failed.
#
# The root is cached in MR_PG17_CACHE (default /var/cache/metrics_rollup)
# and reused while its stamp matches and its server runs; otherwise it is
# rebuilt (about 2 min).  The Debian mirror is read from this machine's apt
# sources at run time (MR_DEBIAN_MIRROR overrides it).  /proc and /dev/shm
# (PostgreSQL's POSIX shared memory) are bind-mounted for the run and
# unmounted on exit.  Concurrent runs share the root: building takes an
# exclusive lock, running a shared one.  The inner run is stopped after
# MR_PG17_TIMEOUT seconds (default 1800) and then counts as one failure.
#
#   bash test/pg17.sh                 the whole suite on PG 17
#   bash test/pg17.sh sketch t/030_cleanup.pl    only these (developers)
#   MR_PG17=0 bash test/run_tests.sh  skip this pass
set -uo pipefail

skip() {
	echo "PG 17 pass skipped: $*"
	exit 0
}

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
suite=trixie
pg=17
cache="${MR_PG17_CACHE:-/var/cache/metrics_rollup}"
root="$cache/$suite-pg$pg"
lock="$cache/$suite-pg$pg.lock"

[ "${MR_PG17:-}" = 0 ] && skip "MR_PG17=0"

# Everything below needs root (debootstrap, chroot, mount).
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || skip "needs root or sudo (neither here)"
	sudo -n true 2>/dev/null || skip "sudo asks for a password"
	exec sudo -n env MR_PG17="${MR_PG17:-}" MR_PG17_CACHE="$cache" \
		MR_DEBIAN_MIRROR="${MR_DEBIAN_MIRROR:-}" bash "$0" "$@"
fi

log() { printf '== pg17: %s\n' "$*" >&2; }

# The packages of the root; tdigest only where Debian packages it (no test
# needs it today; one that uses it must skip without it).
base_packages="make gcc postgresql-$pg postgresql-server-dev-$pg libipc-run-perl"
optional_packages="postgresql-$pg-tdigest"

# A Debian mirror from this machine's apt sources: the first "deb" URI
# ending in /debian (not debian-security) of a one-line or deb822 file.
debian_mirror() {
	local f
	[ -n "${MR_DEBIAN_MIRROR:-}" ] && { echo "$MR_DEBIAN_MIRROR"; return; }
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/) { print $i; break } }' "$f"
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		# one stanza per paragraph; skip those with "Enabled: no"
		awk 'BEGIN { RS = ""; FS = "\n" }
			{ deb = 0; off = 0; uris = ""
			  for (i = 1; i <= NF; i++) {
				if ($i ~ /^Types:/ && $i ~ /[ \t]deb([ \t]|$)/) deb = 1
				if ($i ~ /^Enabled:[ \t]*no/) off = 1
				if ($i ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", $i); uris = $i }
			  }
			  if (deb && !off) { n = split(uris, u, /[ \t]+/); for (j = 1; j <= n; j++) print u[j] } }' "$f"
	done
} 2>/dev/null

mirror_url() {
	debian_mirror | sed 's:/*$::' | grep -E '^(https?|file)://.*/debian$' | head -n 1
}

# The stamp says what the root was built from; a root without it, or
# whose server binary does not run, is rebuilt.
stamp_text() { echo "$suite $base_packages $optional_packages"; }
root_ok() {
	[ -f "$root/.mr_stamp" ] && [ "$(cat "$root/.mr_stamp")" = "$(stamp_text)" ] &&
		chroot "$root" "/usr/lib/postgresql/$pg/bin/postgres" --version >/dev/null 2>&1 &&
		chroot "$root" "/usr/lib/postgresql/$pg/bin/pg_config" --pgxs >/dev/null 2>&1
}

# Build the root in "$root.new" and move it into place.  Prints the
# reason and returns 1 when it cannot.
build_root() {
	local mirror new="$root.new" pkgs
	command -v debootstrap >/dev/null 2>&1 ||
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null 2>&1 ||
		{ DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1 &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null 2>&1; } ||
		{ echo "debootstrap is not installed and could not be"; return 1; }
	[ -f "/usr/share/debootstrap/scripts/$suite" ] ||
		{ echo "this debootstrap does not know $suite"; return 1; }
	mirror="$(mirror_url)"
	[ -n "$mirror" ] || { echo "no Debian mirror in /etc/apt/sources (set MR_DEBIAN_MIRROR)"; return 1; }
	# no network (or no such suite): say so in seconds, not after wget's
	# default 20 tries of 15 minutes
	case "$mirror" in
	http*) wget -q -T 15 -t 1 -O /dev/null "$mirror/dists/$suite/Release" ||
			{ echo "$mirror/dists/$suite is not reachable"; return 1; } ;;
	esac
	log "making a Debian $suite root in $root from $mirror"
	# --one-file-system: never into a mount (the host's /dev/shm)
	unmount_stale
	rm -rf --one-file-system "$new" "$root"
	printf 'timeout = 60\ntries = 3\n' >"$cache/wgetrc"
	if ! WGETRC="$cache/wgetrc" debootstrap --variant=minbase "$suite" "$new" "$mirror" >"$cache/debootstrap.log" 2>&1; then
		rm -rf --one-file-system "$new"
		echo "debootstrap $suite from $mirror failed (see $cache/debootstrap.log)"
		return 1
	fi
	# no service starts inside; no default cluster
	printf '#!/bin/sh\nexit 101\n' >"$new/usr/sbin/policy-rc.d"
	chmod 755 "$new/usr/sbin/policy-rc.d"
	mkdir -p "$new/etc/postgresql-common"
	echo "create_main_cluster = false" >"$new/etc/postgresql-common/createcluster.conf"
	cp /etc/resolv.conf "$new/etc/resolv.conf" 2>/dev/null
	pkgs="$base_packages"
	with_mounts "$new" apt_in "$new" update >>"$cache/debootstrap.log" 2>&1 ||
		{ rm -rf --one-file-system "$new"; echo "apt-get update in the root failed (see $cache/debootstrap.log)"; return 1; }
	if chroot "$new" apt-cache show "$optional_packages" >/dev/null 2>&1; then
		pkgs="$pkgs $optional_packages"
	else
		log "$optional_packages is not packaged for $suite; tests using tdigest skip"
	fi
	# shellcheck disable=SC2086
	with_mounts "$new" apt_in "$new" install -y -q --no-install-recommends \
		-o Dpkg::Options::=--force-confold $pkgs >>"$cache/debootstrap.log" 2>&1 ||
		{ rm -rf --one-file-system "$new"; echo "installing PostgreSQL $pg in the root failed (see $cache/debootstrap.log)"; return 1; }
	chroot "$new" apt-get clean
	stamp_text >"$new/.mr_stamp"
	mv "$new" "$root"
}

apt_in() {
	local r="$1"
	shift
	chroot "$r" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
		${http_proxy:+http_proxy=$http_proxy} ${https_proxy:+https_proxy=$https_proxy} \
		apt-get "$@"
}

# with_mounts ROOT CMD...: run CMD with /proc and /dev/shm mounted in ROOT,
# unmounted afterwards (also when interrupted).  /dev/shm is the host's,
# bound: concurrent runs see the same segments, and none is left behind.
with_mounts() {
	local r="$1" rc
	shift
	mkdir -p "$r/proc" "$r/dev/shm"
	mount -t proc proc "$r/proc" || { echo "mounting /proc in $r failed" >&2; return 1; }
	if ! mount --bind /dev/shm "$r/dev/shm"; then
		umount "$r/proc"
		echo "mounting /dev/shm in $r failed" >&2
		return 1
	fi
	# shellcheck disable=SC2064
	trap "umount -l '$r/dev/shm' 2>/dev/null; umount -l '$r/proc' 2>/dev/null" EXIT INT TERM
	"$@"
	rc=$?
	umount "$r/dev/shm" 2>/dev/null || umount -l "$r/dev/shm"
	umount "$r/proc" 2>/dev/null || umount -l "$r/proc"
	trap - EXIT INT TERM
	return "$rc"
}

# The inner run, in RUN (a directory in the root's /tmp: the sources in
# RUN/src, owned by postgres, and RUN/tmp as TMPDIR): run_tests.sh as
# postgres with MR_PG_VERSION=17.
run_inner() {
	local run="$1" pkgs="$base_packages"
	shift
	chroot "$root" dpkg-query -W -f='${Status}' "$optional_packages" 2>/dev/null |
		grep -q 'install ok installed' && pkgs="$pkgs $optional_packages"
	# a hung test must not eat the CI budget (the pass takes ~6 min)
	timeout --kill-after=60 "${MR_PG17_TIMEOUT:-1800}" \
		chroot --userspec=postgres:postgres "$root" env -i \
		PATH=/usr/local/bin:/usr/bin:/bin HOME=/var/lib/postgresql TMPDIR="$run/tmp" LANG=C.UTF-8 \
		MR_PG_VERSION="$pg" MR_PACKAGES="$pkgs" MR_PG17_INNER=1 \
		bash "$run/src/test/run_tests.sh" "$@"
}

# Unmount whatever a killed run left mounted in the root (or in a root
# being built).  Call only under the exclusive lock (no run uses the root).
unmount_stale() {
	local m
	for m in $(awk -v r="$root" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r); do
		umount -l "$m" 2>/dev/null
	done
}

start=$(date +%s)
mkdir -p "$cache" || skip "cannot create $cache"
exec 9>"$lock"

# Build or repair the root under the exclusive lock, then hold a shared
# one while testing so no other run rebuilds it underneath us.
flock -s 9
if ! root_ok; then
	flock -u 9
	flock -x 9
	unmount_stale
	if ! root_ok; then
		reason="$(build_root)" || skip "$reason"
	fi
	flock -u 9
	flock -s 9
else
	log "reusing the cached root $root"
fi
ready=$(date +%s)

# what failed runs left (kept for their logs) goes after a day
find "$root/tmp" -maxdepth 1 -name 'mr_pg17.*' -mtime +1 -exec rm -rf --one-file-system {} + 2>/dev/null
run="$(mktemp -d "$root/tmp/mr_pg17.XXXXXX")"
mkdir -p "$run/src" "$run/tmp"
tar -C "$repo" --exclude=.git --exclude='tmp_*' --exclude=results --exclude=log \
	--exclude='*.o' --exclude='*.bc' --exclude='*.so' --exclude='test/fuzz/build' -cf - . |
	tar -C "$run/src" -xf -
chmod 755 "$run"
chroot "$root" chown -R postgres:postgres "${run#"$root"}"

log "running the suite on PostgreSQL $pg (root ready in $((ready - start)) s)"
with_mounts "$root" run_inner "${run#"$root"}" "$@" 2>&1 | sed -u 's/^/pg17: /' | tee "$run/pg17.log"
inner_rc=${PIPESTATUS[0]}
end=$(date +%s)
log "PG $pg pass: $((end - start)) s (root $((ready - start)) s, suite $((end - ready)) s)"

# keep the run's directory (sources, logs, clusters) only when something failed
if [ "$inner_rc" -eq 0 ]; then
	rm -rf --one-file-system "$run"
else
	log "sources and logs kept in $run"
	# the inner run died before counting: report one failure
	grep -qE '^pg17: [0-9]+ passed, [0-9]+ failed$' "$run/pg17.log" ||
		echo "pg17: 0 passed, 1 failed"
fi
[ "$inner_rc" -eq 0 ]
