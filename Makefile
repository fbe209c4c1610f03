# res_pjsip_multireg — see README.md. Two commands matter: `make run` and `make test`.
SHELL := /bin/bash
MULTIREG_CACHE ?= $(HOME)/.cache/res_pjsip_multireg
export MULTIREG_CACHE
MODULE := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)/release/libres_pjsip_multireg.so
export MULTIREG_MODULE := $(MODULE)
ROOT := $(MULTIREG_CACHE)/root
INSTANCE := run
C ?= core show version

.PHONY: all deps asterisk postgres build docs run stop cli console test unit integration bench bench-scale bench-instructions bench-cpu-order soak install clean \
	asterisk-source test-source deb fuzz asan

all: build

deps:
	@bash scripts/host-deps.sh

# Asterisk 22 runtime root, asterisk-dev headers and pjproject headers, cached outside the clone.
asterisk: deps
	@bash scripts/prepare-asterisk.sh

# With ASTERISK_SRC or ASTERISK_INCLUDE_DIR the build uses those headers and needs no embedded runtime.
ifeq ($(ASTERISK_SRC)$(ASTERISK_INCLUDE_DIR),)
HEADERS := asterisk
else
HEADERS := deps
endif

build: $(HEADERS)
	cargo build --release

# Third-party XML documentation, read by Asterisk at start-up (core show application ...).
docs: asterisk
	@install -D -m 0644 docs/res_pjsip_multireg-en_US.xml $(ROOT)/usr/share/asterisk/documentation/thirdparty/res_pjsip_multireg-en_US.xml

run: build docs
	@bash scripts/instance.sh stop $(INSTANCE)
	@bash scripts/instance.sh start $(INSTANCE) asterisk-conf $(MODULE)
	@echo
	@echo "Asterisk 22 is running with res_pjsip_multireg (loopback only)."
	@echo "  Point a softphone at 127.0.0.1:5060 (UDP or TCP) or ws://127.0.0.1:8088/ws"
	@echo "  Extensions 101-104, passwords pass101-pass104 (see asterisk-conf/pjsip.conf)"
	@echo "  Secondary devices: 101r and 102r with the same passwords (dual registration)"
	@echo "  AMI: 127.0.0.1:5038 user multireg / secret multireg-ami"
	@echo "  make cli C='multireg show extensions'   make console   make stop"

stop:
	@bash scripts/instance.sh stop $(INSTANCE)

cli:
	@bash scripts/instance.sh cli $(INSTANCE) "$(C)"

console:
	@bash scripts/instance.sh console $(INSTANCE)

unit:
	cargo test --lib

# Unit tests, then integration tests against real Asterisk instances (one per test, in parallel).
# PostgreSQL for the cluster tests (tests/cluster.rs), from the host's apt sources.
postgres:
	@bash scripts/postgres-deps.sh

test: build docs postgres
	@if cargo nextest --version >/dev/null 2>&1; then \
		cargo nextest run --release --no-fail-fast; \
	else \
		cargo test --release --no-fail-fast; \
	fi

# Speed against stock Asterisk (module not loaded) measured in the same run; prints ratios.
bench: build docs
	cargo bench --bench register

# The full benchmark (long): REGISTER load at BENCH_SIZES contacts (default 1000,10000,50000), mass
# registration, dial string, reload/load/boot and memory with 10,000 extensions; stock Asterisk with
# hand-written secondaries vs the module, ratios printed and written to docs/benchmarks.md.
# See benches/scale.rs for every BENCH_* setting.
bench-scale: build docs
	cargo bench --bench scale

# Instructions Asterisk executes per registration, stock vs module, counted by callgrind (valgrind
# is installed into the runtime root once): the machine's other load does not change the count.
bench-instructions: build docs
	@bash scripts/valgrind-in-root.sh
	cargo bench --bench instructions

# Asterisk's CPU per registration, stock vs module, with the instances taking turns every BENCH_BLOCK
# rounds (ABBA): whether a CPU gap belongs to the registrations or to switching instances.
bench-cpu-order: build docs
	cargo bench --bench cpu_order

# Repeats the integration suite SOAK_ROUNDS times (default 10), stopping at the first failure, to
# catch rare races; not part of `make test`.
SOAK_ROUNDS ?= 10
soak: build docs
	@for round in $$(seq 1 $(SOAK_ROUNDS)); do \
		echo "soak round $$round of $(SOAK_ROUNDS)"; \
		cargo nextest run --release --no-fail-fast --tests || exit 1; \
	done

# Checks the running Asterisk's version and build-option checksum against the module's headers first.
install: build
	@bash scripts/install.sh $(MODULE)

# Asterisk 22 built from source (./configure --with-pjproject-bundled, make, make install into a
# prefix), cached in MULTIREG_SOURCE_CACHE (default $(MULTIREG_CACHE)/source); about 10 minutes once.
MULTIREG_SOURCE_CACHE ?= $(MULTIREG_CACHE)/source
export MULTIREG_SOURCE_CACHE
asterisk-source: deps
	@bash scripts/build-asterisk-source.sh

# The module built with ASTERISK_SRC and with ASTERISK_INCLUDE_DIR against that Asterisk, and the
# integration suite run against it. Not part of `make test`.
test-source: asterisk-source
	@bash scripts/test-source.sh

# A .deb for Debian's asterisk 22 package (exact version dependency, conffile sample), in target/deb/,
# then tested: apt install into a copy of the runtime root, module loaded by Asterisk. Not part of `make test`.
deb: build
	@bash scripts/host-deps.sh deb
	@deb=$$(bash scripts/make-deb.sh $(MODULE) target/deb) && echo "[deb] built $$deb" && bash scripts/test-deb.sh "$$deb"

# cargo-fuzz over everything that reads network or configuration data (src/fuzz_targets.rs), each
# target for FUZZ_SECONDS (default 60), on the stable toolchain; `make test` replays fuzz/corpus.
# Not part of `make test`. See docs/reliability.md.
FUZZ_SECONDS ?= 60
export FUZZ_SECONDS
fuzz:
	@bash scripts/fuzz-deps.sh
	@bash scripts/fuzz.sh

# The module built with AddressSanitizer, loaded into Asterisk with the ASan runtime preloaded, and
# the integration tests that drive every callback (ASAN_TESTS: another nextest filter). Not part of
# `make test`. See docs/reliability.md.
asan: asterisk docs
	@bash scripts/asan.sh

clean:
	cargo clean
