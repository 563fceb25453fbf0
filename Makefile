# kusto_sink — PGXS build and the project's make targets
#
#   make / make install      build and install the extension (PG_CONFIG selects the server)
#   make deps                install every missing apt/npm dependency (idempotent; root)
#   make installcheck        pg_regress on a throw-away instance (no running server needed)
#   make unit                C unit tests of the ingest core (test/unit)
#   make emulator-test       the Kusto emulator's own tests (node:test)
#   make tap                 TAP tests (test/t, PostgreSQL::Test::Cluster)
#   make test                deps, then every suite on PostgreSQL 15 (PG_CONFIG) and on 18
#                            (built by deps.sh), each build installed first; ends with
#                            one "N passed, N failed" for both
#   make bench               benchmarks (test/bench), printed as a table
#   make bench-snapshot      the initial snapshot benchmark alone
#   make bench-pipeline      the queued pipeline benchmark alone (issue 20)
#   make demo                the end-to-end demo
#   make emulator            run the Kusto emulator in the foreground
#   make deb                 the Debian package postgresql-<major>-kusto-sink, in build/deb/

EXTENSION = kusto_sink
MODULE_big = kusto_sink
DATA = kusto_sink--1.0.sql kusto_sink--1.0--1.1.sql
PGFILEDESC = "kusto_sink - stream PostgreSQL changes into Azure Data Explorer (Kusto)"

DECODER_OBJS = \
	src/decoder/plugin.o \
	src/decoder/options.o \
	src/decoder/relinfo.o \
	src/decoder/pubfilter.o \
	src/decoder/colrules.o \
	src/decoder/colbind.o \
	src/decoder/typemap.o \
	src/decoder/values.o \
	src/decoder/record.o \
	src/decoder/escape.o

API_OBJS = \
	src/api/caller_gate.o \
	src/api/check_options.o \
	src/api/create_slot.o \
	src/api/drop_guard.o \
	src/api/hide_statement.o \
	src/api/kql_quote.o \
	src/api/log_redact.o \
	src/api/option_names.o \
	src/api/mask_salt.o \
	src/api/outside_transaction.o \
	src/api/prerequisites.o \
	src/api/sent_columns.o \
	src/api/sink_control.o \
	src/api/slot_sync_status.o \
	src/api/source_access.o \
	src/api/table_commands.o \
	src/api/table_empty.o \
	src/api/test_connection.o \
	src/api/typeinfo.o

WORKER_OBJS = \
	src/worker/ack_window.o \
	src/worker/batch.o \
	src/worker/catalog_version.o \
	src/worker/config.o \
	src/worker/connection_options.o \
	src/worker/crashpoint.o \
	src/worker/dead_letters.o \
	src/worker/decode.o \
	src/worker/in_doubt.o \
	src/worker/kusto_ddl.o \
	src/worker/failover.o \
	src/worker/kusto_tables.o \
	src/worker/jsonb_pairs.o \
	src/worker/layouts.o \
	src/worker/launcher.o \
	src/worker/progress.o \
	src/worker/registry.o \
	src/worker/ship.o \
	src/worker/sink_name.o \
	src/worker/sink_options.o \
	src/worker/sink_secret.o \
	src/worker/sink_worker.o \
	src/worker/slot_sync_check.o \
	src/worker/snapshot.o \
	src/worker/table_access.o \
	src/worker/worker_sql.o

KUSTO_OBJS = \
	src/kusto/alloc.o \
	src/kusto/auth.o \
	src/kusto/auth_methods.o \
	src/kusto/client.o \
	src/kusto/error.o \
	src/kusto/http.o \
	src/kusto/jwt.o \
	src/kusto/queued.o \
	src/kusto/resources.o \
	src/kusto/result.o \
	src/kusto/retry.o \
	src/kusto/status_book.o \
	src/kusto/streaming_memo.o \
	src/kusto/storage.o

COMMON_OBJS = \
	src/common/kusto_name.o

OBJS = src/kusto_sink.o $(DECODER_OBJS) $(WORKER_OBJS) $(API_OBJS) $(KUSTO_OBJS) $(COMMON_OBJS)
SHLIB_LINK += -lcurl -ljansson -lssl -lcrypto -lz

# The regression tests run through our own installcheck (throw-away instance,
# unprivileged user), so PGXS must not define one.
NO_INSTALLCHECK = 1
REGRESS = types formats changes toast options filter typeinfo connections sinks kusto_tables security table_access publications

# the distribution's PostgreSQL (PG_MAJOR, 15, as deps.sh installs it) by
# default: Debian's /usr/bin/pg_config is the newest postgresql-server-dev
# installed, 18 once make deps has built it
PG_MAJOR ?= 15
PG_CONFIG ?= $(or $(wildcard /usr/lib/postgresql/$(PG_MAJOR)/bin/pg_config),pg_config)
PG_CPPFLAGS = -I$(srcdir)/src
# -Wall -Wextra -Werror, minus the -Wextra warnings that PostgreSQL's own
# headers and function-manager conventions trigger.
PG_CFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare \
	-Wno-missing-field-initializers

# rebuild objects when a header they include changes
override autodepend = yes

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

PG_BINDIR := $(shell $(PG_CONFIG) --bindir)
export PG_CONFIG

# objects are rebuilt when PG_CONFIG selects another server (make test builds
# for two): they depend on a stamp that names the server's headers
PG_BUILD_ID := $(shell $(PG_CONFIG) --includedir-server)
.pg_build: FORCE
	@echo '$(PG_BUILD_ID)' | cmp -s - $@ || echo '$(PG_BUILD_ID)' > $@
$(OBJS) $(OBJS:.o=.bc): .pg_build
.PHONY: FORCE
EXTRA_CLEAN += .pg_build

.PHONY: deps installcheck unit emulator-test tap test-live test bench bench-snapshot bench-pipeline demo emulator soak deb

# kusto-cli: the ingest core on its own (src/kusto/cli/kusto_cli.c)
KUSTO_SRCS = $(KUSTO_OBJS:.o=.c)
kusto-cli: src/kusto/cli/kusto_cli.c $(KUSTO_SRCS) src/kusto/kusto.h src/kusto/kusto_int.h
	$(CC) -std=gnu99 -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter -o $@ \
		src/kusto/cli/kusto_cli.c $(KUSTO_SRCS) -lcurl -ljansson -lssl -lcrypto -lz
EXTRA_CLEAN += kusto-cli

deps:
	@bash test/scripts/deps.sh

installcheck:
	@bash test/scripts/regress.sh $(REGRESS)

unit:
	@bash test/scripts/unit.sh

emulator-test:
	@bash test/scripts/emulator-test.sh

tap:
	@bash test/scripts/tap.sh

# the end-to-end TAP test against a real cluster (KUSTO_LIVE_*; "skipped" without them)
test-live:
	@bash test/scripts/live.sh

# deps, then for each server build + install and its suites, summed into one
# closing line (run-suites.sh --all-versions)
test:
	@bash test/scripts/deps.sh
	@bash test/scripts/run-suites.sh --all-versions $(REGRESS)

bench:
	@bash test/scripts/deps.sh
	$(MAKE) all
	$(MAKE) install
	@bash test/bench/decode_bench.sh
	@bash test/bench/sink_bench.sh
	@bash test/bench/snapshot_bench.sh
	@bash test/bench/pipeline_bench.sh

bench-snapshot:
	@bash test/scripts/deps.sh
	$(MAKE) all
	$(MAKE) install
	@bash test/bench/snapshot_bench.sh

bench-pipeline:
	@bash test/scripts/deps.sh
	$(MAKE) all
	$(MAKE) install
	@bash test/bench/pipeline_bench.sh

demo:
	@bash test/scripts/deps.sh
	$(MAKE) all
	$(MAKE) install
	@bash test/scripts/demo.sh

# exactly once under a long randomized workload with crashes and faults
soak:
	@bash test/scripts/deps.sh
	$(MAKE) all
	$(MAKE) install
	@bash test/soak/soak.sh

deb:
	@bash test/scripts/deps.sh
	@bash test/scripts/deb.sh

emulator:
	@bash test/scripts/deps.sh --npm-only
	@exec test/kusto-emulator/kusto-emulator
