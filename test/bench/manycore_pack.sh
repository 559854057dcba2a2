#!/bin/bash
# test/bench/manycore_pack.sh: packs Debian's PostgreSQL 15 binaries, THIS
# build of metrics_rollup (from the private install of test/lib.sh's
# mr_build_install, never the system's) and the shared libraries they need
# (not libc) into one archive, for a bigger x86-64 Linux machine that has no
# PostgreSQL; copies manycore_scale.sh beside it.  Adapted from
# /work/shared/bench/portable-pg.sh.
#
#   bash test/bench/manycore_pack.sh OUTDIR
#   -> OUTDIR/pgbundle.tar.xz (about 20 MB) and OUTDIR/manycore_scale.sh
# On the big machine, as root:  OUT=/tmp bash OUTDIR/manycore_scale.sh
set -euo pipefail
out=${1:?usage: manycore_pack.sh OUTDIR}
mkdir -p "$out"
. "$(dirname "$0")/../lib.sh"
mr_install_packages
mr_build_install
B=$(pg_config --bindir) L=$(pg_config --pkglibdir) S=$(pg_config --sharedir)
IB=$MR_INST$B IL=$MR_INST$L IS=$MR_INST$S
[ -f "$IL/metrics_rollup.so" ] || mr_die "no metrics_rollup.so in the private install $MR_INST"
R=$(mktemp -d)
trap 'rm -rf "$R"; mr_remove_install' EXIT
mkdir -p "$R/root$B" "$R/root$L" "$R/root$(dirname "$S")" "$R/libs" "$R/root/usr/share/zoneinfo"
for f in postgres initdb pg_ctl pgbench psql; do cp -aL "$IB/$f" "$R/root$B/"; done
for f in plpgsql.so dict_snowball.so pgoutput.so metrics_rollup.so; do cp -aL "$IL/$f" "$R/root$L/"; done
cp -aL "$IS" "$R/root$(dirname "$S")/" && rm -rf "$R/root$S/man"
(cd /usr/share/zoneinfo && tar cf - --exclude=right --exclude=posix .) | (cd "$R/root/usr/share/zoneinfo" && tar xf -)
ldd "$IB/postgres" "$IB/pgbench" "$IB/psql" "$IB/initdb" "$IL/metrics_rollup.so" | awk '/=>/ {print $3}' | sort -u |
	grep -v -E '/(libc|libm|libresolv|libgcc_s|libstdc\+\+|libpthread|libdl|librt)\.so' |
	while read -r l; do cp -L "$l" "$R/libs/"; done
(cd "$R" && tar cJf "$out/pgbundle.tar.xz" root libs)
cp "$(dirname "$0")/manycore_scale.sh" "$out/"
echo "build: $(git -C "$MR_REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)" >"$out/BUILD"
ls -l "$out"
