# metrics_rollup: PGXS build.
#
#   make && sudo make install       build and install into the server found by pg_config
#   test/run_tests.sh               every test (pg_regress + TAP), see README.md

EXTENSION = metrics_rollup
MODULE_big = metrics_rollup
OBJS = \
	src/metrics_rollup.o \
	src/shmem.o \
	src/catalog.o \
	src/guc.o \
	src/sketch_core.o \
	src/sketch.o \
	src/buffer.o \
	src/worker.o \
	src/ingest.o \
	src/rollup.o \
	src/rollup_agg.o \
	src/job_xact.o \
	src/cleanup.o \
	src/cleanup_archive.o \
	src/live.o \
	src/security.o \
	src/jobstate.o \
	src/history.o \
	src/flush.o \
	src/query_sketch_merge.o \
	src/query_marks.o \
	src/daily.o \
	src/classes.o \
	src/poll.o \
	src/statsreset.o \
	src/dbcheck.o \
	src/drain.o \
	src/citus.o

DATA = src/metrics_rollup--1.0.sql src/metrics_rollup--1.0--1.1.sql \
	src/metrics_rollup--1.1--1.2.sql
PGFILEDESC = "metrics_rollup - metric ingest, hourly rollups and percentile sketches"

# Our own files build warning-free with -Wall -Wextra -Werror.  PostgreSQL's
# headers trip -Wunused-parameter and -Wmissing-field-initializers, which say
# nothing about our code, so those two stay off.
PG_CFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers

# pg_regress starts its own server with the extension preloaded (see
# test/regress.conf); it must not run as root.
REGRESS = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --temp-instance=./tmp_regress --temp-config=test/regress.conf

TAP_TESTS = 1
PROVE_TESTS = $(sort $(wildcard test/t/*.pl))

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

EXTRA_CLEAN = tmp_regress

# TAP tests share test/perl/MetricsRollupTest.pm (node setup, worker, locks,
# the shadow-table oracle).
PG_PROVE_FLAGS += -I $(srcdir)/test/perl

# Every object depends on every header of ours: PGXS tracks header
# dependencies only on servers configured with --enable-depend (Debian's is
# not), and a struct that grows in a header must never meet an object built
# against its old layout.
$(OBJS): $(wildcard src/*.h)

# Static analysis (not part of the default build): cppcheck and clang-tidy
# over src/*.c with the server's include paths; any finding fails.  The
# configuration is checked in: .clang-tidy and test/lint/.
CPPCHECK ?= cppcheck
CLANG_TIDY ?= clang-tidy
LINT_SRCS = $(sort $(wildcard src/*.c))

.PHONY: lint
lint:
	$(CPPCHECK) --quiet --error-exitcode=1 --inline-suppr --std=c99 \
		--enable=warning,portability,performance --max-configs=1 \
		--suppressions-list=test/lint/cppcheck-suppressions.txt \
		-D__GNUC__ -D__x86_64__ -Isrc -I$(includedir_server) $(LINT_SRCS)
	$(CLANG_TIDY) --quiet $(LINT_SRCS) -- -std=gnu99 -Isrc $(CPPFLAGS)
	@echo "lint: no findings in $(words $(LINT_SRCS)) files"
