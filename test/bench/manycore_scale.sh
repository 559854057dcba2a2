#!/bin/bash
# test/bench/manycore_scale.sh: sustained ingest on a many-core machine, per
# client count: what record_batch(1000) producers get accepted, what the
# flush workers commit meanwhile (drained/accepted), and the backlog.
# Adapted from /work/shared/bench/scale.sh.  Runs as root on a machine
# WITHOUT PostgreSQL, from pgbundle.tar.xz beside it (made by
# test/bench/manycore_pack.sh from this build).  Finishes in about 6
# minutes (hard stop of new steps at STOP_S, default 420 s).
#
#   OUT=/tmp bash manycore_scale.sh                 flush_workers auto (half the CPUs here: max_worker_processes is 48)
#   FW=8 CLIENTS="1 8 16 32 64" bash manycore_scale.sh
#
# Steps:
#  1. setup: unpack, initdb, start (buffer_size $BUF, flush_workers $FW).
#  2. baseline: one binary COPY stream of NCOPY rows into a copy of
#     raw_metrics with the same index and no trigger (rows/s), and the
#     drain capacity: NCOPY events buffered while the flush workers sleep,
#     then flush() timed (events/s, and x COPY).
#  3. per client count c (CLIENTS): pgbench -c c record_batch(1000) for DUR
#     s; accepted/s, committed/s, committed/accepted, backlog max and at
#     the end (sampled every second), direct/overflowed events, call
#     latency; then flush() empties the buffer before the next count.
OUT=${OUT:-/tmp}
exec > >(tee "$OUT/manycore_scale.log") 2>&1
T0=$(date +%s)
FW=${FW:-0}
BUF=${BUF:-256MB}
DUR=${DUR:-20}
NCOPY=${NCOPY:-2000000}
STOP_S=${STOP_S:-420}
CLIENTS=${CLIENTS:-1 4 8 16 32 64}
elapsed() { echo $(( $(date +%s) - T0 )); }

mkdir -p /tmp/b && tar xJf "$(dirname "$0")/pgbundle.tar.xz" -C /tmp/b || exit 1
cp -a /tmp/b/root/usr/lib/postgresql /usr/lib/
mkdir -p /usr/share/postgresql && cp -a /tmp/b/root/usr/share/postgresql/15 /usr/share/postgresql/
[ -d /usr/share/zoneinfo ] || cp -a /tmp/b/root/usr/share/zoneinfo /usr/share/
export LD_LIBRARY_PATH=/tmp/b/libs
B=/usr/lib/postgresql/15/bin
U=${RUNAS:-pgb}	# the server's user (initdb refuses root); created when missing
id "$U" >/dev/null 2>&1 || useradd -M "$U"
mkdir -p /tmp/pg && rm -rf /tmp/pg/* && chown "$U" /tmp/pg
as() { su "$U" -s /bin/bash -c "export LD_LIBRARY_PATH=/tmp/b/libs; $*"; }
as "$B/initdb -D /tmp/pg/data -A trust -U postgres --no-sync" >/dev/null || { echo initdb failed; exit 1; }
cat >>/tmp/pg/data/postgresql.conf <<CONF
listen_addresses=''
unix_socket_directories='/tmp/pg'
max_connections=300
max_worker_processes=48
shared_buffers=${SB:-8GB}
max_wal_size=32GB
jit=off
shared_preload_libraries='metrics_rollup'
metrics_rollup.database='postgres'
metrics_rollup.buffer_size=$BUF
metrics_rollup.flush_workers=$FW
metrics_rollup.rollup_enabled=off
metrics_rollup.cleanup_enabled=off
CONF
as "$B/pg_ctl -D /tmp/pg/data -l /tmp/pg/log -w start" >/dev/null || { tail /tmp/pg/log; exit 1; }
trap 'as "$B/pg_ctl -D /tmp/pg/data -m fast -w stop" >/dev/null 2>&1' EXIT
export PGHOST=/tmp/pg PGUSER=postgres PGDATABASE=postgres
P="$B/psql -qXAt -v ON_ERROR_STOP=1"
$P -c "CREATE EXTENSION metrics_rollup" || { tail /tmp/pg/log; exit 1; }
$P -c "CREATE TABLE plain (LIKE metrics_rollup.raw_metrics INCLUDING INDEXES)"
$P -c "DROP INDEX IF EXISTS plain_recorded_at_idx"
fw=$($P -c "SELECT count(*) FROM metrics_rollup.flush_workers")
echo "nproc $(nproc); flush workers $fw; buffer $BUF; setup $(elapsed) s"

# --- 2. baselines ------------------------------------------------------------
$P -c "COPY (SELECT 'tool', 'entity' || (g % 1000), NULL::text, now() + g * interval '1 us', (((g::bigint * 7919) % 10000) / 1000.0)::float8, g % 10 <> 0, NULL::text
             FROM generate_series(1, $NCOPY) g) TO '/tmp/pg/c.bin' WITH (FORMAT binary)"
t0=$(date +%s.%N); $P -c "COPY plain FROM '/tmp/pg/c.bin' WITH (FORMAT binary)"; t1=$(date +%s.%N)
copy_rate=$(awk -v n="$NCOPY" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", n / (b - a)}')
echo "one binary COPY stream, same index, no trigger: $NCOPY rows at $copy_rate rows/s"
$P -c "ALTER SYSTEM SET metrics_rollup.flush_interval = '1h'" -c "ALTER SYSTEM SET metrics_rollup.flush_threshold = 100" \
	-c "ALTER SYSTEM SET metrics_rollup.backpressure_threshold = 100" -c "SELECT pg_reload_conf()" >/dev/null
sleep 1.5
fillers=""
for s in $(seq 32); do
	$P -c "SELECT sum(metrics_rollup.record_batch('drain', ids, rts, oks)) FROM (
	  SELECT array_agg('entity' || (i % 1000)) ids, array_agg(((i::bigint * 7919) % 10000) / 1000.0) rts,
	         array_agg(i % 10 <> 0) oks
	    FROM generate_series(1, $NCOPY / 32) i GROUP BY i / 10000) b" >/dev/null &
	fillers="$fillers $!"
done
# shellcheck disable=SC2086
wait $fillers
pend=$($P -c "SELECT events_pending FROM metrics_rollup.stats")
t0=$(date +%s.%N); $P -c "SELECT metrics_rollup.flush()" >/dev/null; t1=$(date +%s.%N)
drain_rate=$(awk -v n="$pend" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", n / (b - a)}')
echo "drain capacity: $pend buffered events flushed at $drain_rate events/s = $(awk -v a="$drain_rate" -v b="$copy_rate" 'BEGIN {printf "%.2f", a / b}') x COPY ($fw flush workers)"
$P -c "ALTER SYSTEM RESET metrics_rollup.flush_interval" -c "ALTER SYSTEM RESET metrics_rollup.flush_threshold" \
	-c "ALTER SYSTEM RESET metrics_rollup.backpressure_threshold" -c "SELECT pg_reload_conf()" >/dev/null
$P -c "TRUNCATE metrics_rollup.raw_metrics, metrics_rollup.rollup_dirty, plain" -c "CHECKPOINT" >/dev/null
sleep 1.5
echo "after baselines: $(elapsed) s"

# --- 3. sustained, per client count ----------------------------------------------
cat >/tmp/batch.sql <<'SQL'
SELECT metrics_rollup.record_batch('tool', array_agg('entity' || (random() * 999)::int),
       array_agg(random()), array_agg(random() < 0.95)) FROM generate_series(1, 1000);
SQL
chmod 644 /tmp/batch.sql
counters() { $P -c "SELECT extract(epoch FROM clock_timestamp()), events_buffered + events_direct, events_flushed, events_pending, events_direct, events_overflowed FROM metrics_rollup.stats" | tr '|' ' '; }
printf '%7s %12s %12s %9s %12s %12s %8s %10s %10s\n' clients accepted/s committed/s ratio backlog_max backlog_end direct overflowed latency_ms
for c in $CLIENTS; do
	if [ "$(elapsed)" -gt "$STOP_S" ]; then echo "stopping: $(elapsed) s elapsed (STOP_S $STOP_S)"; break; fi
	read -r t0 a0 f0 _ d0 o0 <<<"$(counters)"
	$B/pgbench -n -M prepared -c "$c" -j "$c" -T "$DUR" -f /tmp/batch.sql postgres >/tmp/pgb.out 2>&1 &
	pid=$!
	max=0
	while kill -0 "$pid" 2>/dev/null; do
		p=$($P -c "SELECT events_pending FROM metrics_rollup.stats")
		[ "$p" -gt "$max" ] && max=$p
		sleep 1
	done
	wait "$pid"
	read -r t1 a1 f1 p1 d1 o1 <<<"$(counters)"
	lat=$(sed -n 's/^latency average = \([0-9.]*\) ms.*/\1/p' /tmp/pgb.out)
	awk -v c="$c" -v s="$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')" -v a=$((a1 - a0)) -v f=$((f1 - f0)) \
		-v mx="$max" -v pe="$p1" -v d=$((d1 - d0)) -v o=$((o1 - o0)) -v l="${lat:-?}" \
		'BEGIN {printf "%7d %12.0f %12.0f %9.3f %12d %12d %8d %10d %10s\n", c, a / s, f / s, (a > 0 ? f / a : 0), mx, pe, d, o, l}'
	$P -c "SELECT metrics_rollup.flush()" >/dev/null
done
echo "--- per flush worker (since start)"
$P -c "SELECT flush_worker, array_to_string(rings, ','), events_flushed, flush_count, flush_failures FROM metrics_rollup.flush_workers ORDER BY 1"
n=$($P -c "SELECT count(*) FROM metrics_rollup.raw_metrics WHERE kind = 'tool'")
b=$($P -c "SELECT events_flushed + events_direct FROM metrics_rollup.stats")
echo "raw rows $n (tool) ; flushed+direct since start $b (includes the $pend drain events, truncated)"
grep -E "ERROR|FATAL|terminated|WARNING" /tmp/pg/log | head -5
echo "total $(elapsed) s"
