# foundation: PGXS build, plus the project's own targets.
#
#   make            build            make install   install into the server
#   make run        build, start a private preloaded Postgres, run the walkthrough
#   make stop       stop that instance
#   make test       build with -Werror and assertions, run every suite on a
#                   private instance (ONLY=word to filter, SUITES="regress ...")
#   make bench      pgbench scenarios, ratios against baselines of the same run
#   make installcheck   the PGXS way, against the server pg_config names, after
#                   make install: the regression tests and the isolation specs,
#                   each on a temporary instance that preloads foundation
#                   (pg_regress --temp-instance with test/foundation.conf),
#                   and the Perl TAP tests in test/t, which start servers of
#                   their own (needs libipc-run-perl)

EXTENSION = foundation
MODULE_big = foundation
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))

# foundation--1.0.sql is frozen (released 1.0); each later version is a step
# foundation--A--B.sql with its downgrade.  src/*.sql stay as the readable
# per-subsystem split of 1.0.
DATA = $(wildcard foundation--*.sql)

# The extension needs shared_preload_libraries, so installcheck does not use
# the running server: pg_regress starts a temporary one with
# test/foundation.conf.  (make test runs the same tests, and pgTAP and
# test/*/suite.sh, on one staged instance of its own: scripts/test.sh.)
REGRESS = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --inputdir=$(srcdir) --temp-instance=$(CURDIR)/tmp_check \
	--temp-config=$(srcdir)/test/foundation.conf
ISOLATION = $(patsubst test/isolation/specs/%.spec,%,$(sort $(wildcard test/isolation/specs/*.spec)))
ISOLATION_OPTS = --inputdir=$(srcdir)/test/isolation --temp-instance=$(CURDIR)/tmp_check_iso \
	--temp-config=$(srcdir)/test/foundation.conf --load-extension=foundation
TAP_TESTS = 1
PROVE_TESTS = test/t/*.pl

PG_CONFIG ?= pg_config
PG_CPPFLAGS += -I$(srcdir)/src
PG_CFLAGS += -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare \
	-Wno-missing-field-initializers -Werror $(FND_CFLAGS)

PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(wildcard $(PGXS)),)
include $(PGXS)
else
all:
	@echo "PostgreSQL server headers are missing: run 'make run' or 'make test' (they install them), or: apt-get install postgresql-server-dev-15" >&2
	@exit 1
endif

srcdir ?= .

.PHONY: run stop test bench stress fuzz
run:
	@bash scripts/run.sh
stop:
	@bash scripts/run.sh --stop
test:
	@bash scripts/test.sh
bench:
	@bash scripts/bench.sh
stress:
	@FND_STRESS_LONG=1 SUITES=suites ONLY=stress bash scripts/test.sh
fuzz:
	@FND_FUZZ_LONG=1 SUITES=suites ONLY=fuzz bash scripts/test.sh

# Version chain (docs/upgrading.md): the upgrade harness alone, and the
# 1.0 build against this one.
.PHONY: test-upgrade bench-compat
test-upgrade:
	@SUITES=suites ONLY=upgrade bash scripts/test.sh
bench-compat:
	@bash scripts/bench-compat.sh
