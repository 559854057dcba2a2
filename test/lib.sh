# shellcheck shell=bash
# test/lib.sh: shared by run_tests.sh, demo.sh and the benchmarks.
#
# Installs what is missing, builds and installs the extension, and runs
# commands as an unprivileged user when invoked as root (initdb refuses root).
# Sourcing it sets: MR_REPO, MR_PGXS_SRC, MR_SUDO, MR_RUNAS; mr_build_install
# sets MR_INST and MR_BINDIR.  MR_PG_VERSION (default 15) picks the server
# major version, its packages and its pg_config (test/pg17.sh sets 17).

MR_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MR_PG_VERSION="${MR_PG_VERSION:-15}"
MR_PACKAGES="${MR_PACKAGES:-make gcc postgresql-$MR_PG_VERSION postgresql-server-dev-$MR_PG_VERSION libipc-run-perl postgresql-$MR_PG_VERSION-tdigest}"

if [ "$(id -u)" -eq 0 ]; then
	MR_SUDO=""
	MR_TEST_USER=postgres
	MR_RUNAS="runuser -u $MR_TEST_USER --"
else
	MR_SUDO="sudo"
	MR_TEST_USER="$(id -un)"
	MR_RUNAS=""
fi

mr_log() { printf '== %s\n' "$*" >&2; }
mr_die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

# Install the Debian packages we need, only if one of them is missing.
mr_install_packages() {
	local missing="" p
	for p in $MR_PACKAGES "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing="$missing $p"
	done
	if [ -n "$missing" ]; then
		mr_log "installing:$missing"
		$MR_SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq ||
			mr_die "apt-get update failed"
		# shellcheck disable=SC2086
		$MR_SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null ||
			mr_die "apt-get install$missing failed"
	fi
	# The test user must exist (the postgresql-N package creates "postgres").
	id "$MR_TEST_USER" >/dev/null 2>&1 || mr_die "user $MR_TEST_USER does not exist"
	# Debian's /usr/bin/pg_config answers for the newest server-dev
	# installed; name this version's own (make reads PG_CONFIG too).
	if [ -z "${PG_CONFIG:-}" ] && [ -x "/usr/lib/postgresql/$MR_PG_VERSION/bin/pg_config" ]; then
		PG_CONFIG="/usr/lib/postgresql/$MR_PG_VERSION/bin/pg_config"
	fi
	PG_CONFIG="${PG_CONFIG:-pg_config}"
	export PG_CONFIG
	MR_BINDIR="$("$PG_CONFIG" --bindir)"
	MR_PGXS_SRC="$(dirname "$(dirname "$("$PG_CONFIG" --pgxs)")")"
}

# Build (warnings are errors) and install into a private copy of the server
# (MR_INST): PostgreSQL's binaries and libraries, hard-linked (or copied) from
# the system's, with this build's metrics_rollup installed beside them by
# `make install DESTDIR=`.  The servers of tests, benchmarks and the demo run
# from there (MR_BINDIR): nothing here ever rewrites a library that a running
# server, ours or anyone's, has loaded.  The binaries find their lib and share
# directories relative to their own location, so the copy is self-contained.
mr_build_install() {
	local sys_bin sys_lib sys_share f
	mr_log "building metrics_rollup and installing it privately"
	make -C "$MR_REPO" -s -j2 >/dev/null || mr_die "build failed"
	sys_bin="$("$PG_CONFIG" --bindir)"
	sys_lib="$("$PG_CONFIG" --pkglibdir)"
	sys_share="$("$PG_CONFIG" --sharedir)"
	MR_INST="$(mktemp -d "${TMPDIR:-/tmp}/metrics_rollup_inst.XXXXXX")"
	for f in "$sys_bin" "$sys_lib" "$sys_share"; do
		mkdir -p "$MR_INST$(dirname "$f")"
		cp -al "$f" "$MR_INST$f" 2>/dev/null ||
			{ rm -rf "$MR_INST$f" && cp -a "$f" "$MR_INST$f"; } ||
			mr_die "copying $f failed"
	done
	# whatever an installed metrics_rollup left there is not this build
	rm -f "$MR_INST$sys_lib"/metrics_rollup.so "$MR_INST$sys_share"/extension/metrics_rollup*
	rm -rf "$MR_INST$sys_lib"/bitcode/metrics_rollup*
	make -C "$MR_REPO" -s install DESTDIR="$MR_INST" >/dev/null || mr_die "make install DESTDIR=$MR_INST failed"
	chmod 755 "$MR_INST"
	MR_BINDIR="$MR_INST$sys_bin"
	export MR_INST MR_BINDIR
}

# Remove the private install (call when no server of ours runs from it).
mr_remove_install() {
	[ -n "${MR_INST:-}" ] && [ -d "$MR_INST" ] && rm -rf "$MR_INST"
	return 0
}

# A private copy of the source tree that the test user owns; prints its path.
mr_work_copy() {
	local work
	work="$(mktemp -d "${TMPDIR:-/tmp}/metrics_rollup.XXXXXX")"
	tar -C "$MR_REPO" --exclude=.git --exclude='tmp_*' --exclude=results \
		--exclude='*.o' --exclude='*.bc' --exclude='*.so' -cf - . | tar -C "$work" -xf -
	[ -n "$MR_RUNAS" ] && chown -R "$MR_TEST_USER" "$work"
	chmod 755 "$work"
	echo "$work"
}

# Run a command as the test user (as is, when not root).
mr_as_user() {
	# shellcheck disable=SC2086
	$MR_RUNAS "$@"
}

# A throwaway cluster with the extension preloaded.  Usage:
#   mr_cluster_start DIR PORT [extra postgresql.conf lines...]
mr_cluster_start() {
	local dir="$1" port="$2" line
	shift 2
	mr_as_user "$MR_BINDIR/initdb" -D "$dir/data" -A trust -E UTF8 --no-locale -U postgres >"$dir/initdb.log" 2>&1 ||
		mr_die "initdb failed (see $dir/initdb.log)"
	{
		echo "port = $port"
		echo "listen_addresses = ''"
		echo "unix_socket_directories = '$dir'"
		echo "shared_preload_libraries = 'metrics_rollup'"
		echo "metrics_rollup.database = 'postgres'"
		for line in "$@"; do echo "$line"; done
	} | mr_as_user tee -a "$dir/data/postgresql.conf" >/dev/null
	mr_cluster_ctl "$dir" start
}

mr_cluster_ctl() {
	local dir="$1" action="$2"
	shift 2
	mr_as_user "$MR_BINDIR/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w "$action" "$@" >/dev/null ||
		mr_die "pg_ctl $action failed (see $dir/server.log)"
}

# psql against a cluster started by mr_cluster_start: mr_psql DIR PORT [args]
mr_psql() {
	local dir="$1" port="$2"
	shift 2
	mr_as_user "$MR_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d postgres "$@"
}

# A free TCP port number (nothing listens on it on loopback).
mr_free_port() {
	local p
	for p in $(seq 55432 55532); do
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
	done
	mr_die "no free port"
}
