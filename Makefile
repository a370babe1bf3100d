# Makefile for the webhook extension (PGXS)

EXTENSION = webhook
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" webhook.control)

MODULE_big = webhook
OBJS = \
	src/webhook.o \
	src/guc.o \
	src/launcher/registry.o \
	src/launcher/wake.o \
	src/launcher/launcher.o \
	src/launcher/utility.o \
	src/capture/capture.o \
	src/capture/outbox.o \
	src/capture/payload.o \
	src/capture/payload_fn.o \
	src/capture/preview.o \
	src/capture/route.o \
	src/delivery/worker.o \
	src/delivery/claim.o \
	src/delivery/send.o \
	src/delivery/batch.o \
	src/delivery/record.o \
	src/delivery/retention.o \
	src/delivery/endpoints.o \
	src/delivery/spi.o \
	src/delivery/breaker.o \
	src/delivery/defer.o \
	src/delivery/order.o \
	src/delivery/ratelimit.o \
	src/delivery/http.o \
	src/delivery/transport.o \
	src/delivery/activity.o \
	src/delivery/bodyenc.o \
	src/delivery/endpoint_check.o \
	src/delivery/secret.o \
	src/delivery/stats_feed.o \
	src/receive/verify.o \
	src/common/sign.o \
	src/common/retry.o \
	src/common/netguard.o \
	src/common/inputcheck.o \
	src/observe/stats.o

DATA = $(wildcard sql/webhook--*.sql)

# PG_MAJOR picks a Debian server's pg_config; PG_CONFIG names one directly
ifdef PG_MAJOR
PG_CONFIG ?= /usr/lib/postgresql/$(PG_MAJOR)/bin/pg_config
endif
PG_CONFIG ?= pg_config
ifeq ($(strip $(PG_CONFIG)),)
PG_CONFIG = pg_config
endif
PG_CPPFLAGS = -DWEBHOOK_VERSION='"$(EXTVERSION)"' -I$(srcdir)/src
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter \
	-Wno-missing-field-initializers -Wno-sign-compare
# CI builds with WERROR=1: every warning fails the build there
ifeq ($(WERROR),1)
PG_CFLAGS += -Werror
endif
SHLIB_LINK = -lcurl -lcrypto


# Tests: pg_regress and isolation on temporary instances that preload the
# library, TAP with PostgreSQL::Test::Cluster.  "make test" runs them all
# (as an unprivileged user when called as root), see test/run.sh.
REGRESS = $(patsubst test/sql/%.sql,%,$(sort $(wildcard test/sql/*.sql)))
REGRESS_OPTS = --inputdir=test --outputdir=test/out \
	--temp-instance=./tmp_regress --temp-config=test/webhook.conf
ISOLATION = $(patsubst test/specs/%.spec,%,$(sort $(wildcard test/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test --outputdir=test/out_iso \
	--temp-instance=./tmp_isolation --temp-config=test/webhook.conf
TAP_TESTS = 1
PROVE_TESTS = $(sort $(wildcard test/t/*.pl))

EXTRA_CLEAN = test/out test/out_iso tmp_regress tmp_isolation tmp_check \
	test/fuzz/build

# Without a pg_config (a machine where "make demo" or "make test" is about
# to install PostgreSQL) only the targets that install it work.
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
NOPGXS_GOALS = demo test deps bench test-matrix
ifneq ($(PGXS),)
include $(PGXS)
else ifneq ($(filter-out $(NOPGXS_GOALS),$(or $(MAKECMDGOALS),all)),)
$(error no PostgreSQL to build against: "$(PG_CONFIG)" is not a pg_config that works. Run "make deps" first, or set PG_CONFIG to one)
endif

# after PGXS, which resets it
PROVE_FLAGS = -I test/t

# the library is built with the version it serves (WEBHOOK_VERSION): a new
# default_version rebuilds it; and a changed header rebuilds every object
# (PGXS tracks no header dependencies of its own)
$(OBJS): webhook.control $(wildcard src/*.h src/*/*.h)

.PHONY: check-regress check-isolation check-tap check-fuzz test demo deps bench \
	test-matrix

check-regress:
	$(pg_regress_installcheck) $(REGRESS_OPTS) $(REGRESS)

check-isolation:
	$(pg_isolation_regress_installcheck) $(ISOLATION_OPTS) $(ISOLATION)

check-tap:
	$(prove_installcheck)

# libFuzzer harnesses (clang), FUZZ_SECONDS each; see test/fuzz/run.sh
FUZZ_SECONDS ?= 10
check-fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) PG_CONFIG=$(PG_CONFIG) bash test/fuzz/run.sh

deps:
	bash test/deps.sh

test:
	bash test/run.sh

demo:
	bash demo/demo.sh

# "make demo" and "make test" on fresh minimal Debian bookworm, trixie and
# sid, each with its own PostgreSQL, as root; MATRIX_SUITES picks others
test-matrix:
	bash test/matrix.sh $(MATRIX_SUITES)

# QUICK=1 for the short smoke run that "make test" also does
bench:
	QUICK=$(QUICK) bash bench/bench.sh
