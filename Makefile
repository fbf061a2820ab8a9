# dyad's entry points for people and CI: run, test, bench, fuzz, clean.
# A fresh Debian 12 machine needs only Rust stable: tools/install-deps.sh installs the rest.

CARGO ?= cargo
# gcc builds the C initiator helper against Debian's libiscsi-dev.
CC := gcc
INITIATOR := target/initiator/iscsi-pattern
# `make bench BENCH_ARGS="--seconds 5 --rounds 5"`
BENCH_ARGS ?=
# Seconds per fuzz target for `make fuzz`.
FUZZ_SECONDS ?= 60
FUZZ_DIR := firmware/iscsi/fuzz

.PHONY: run test deps deps-bench initiator bench fuzz clean

# One controller in the foreground on 127.0.0.1:3260 with a 1 GiB drive in
# var/enclosure/; Ctrl-C stops it cleanly.
run:
	$(CARGO) build --release -p firmware -p tools
	target/release/dyad run

# Lint, release build, then every unit and integration test; release because the
# integration tests drive target/release/dyad-firmware.
test: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) build --release --workspace
	$(MAKE) initiator
	$(CARGO) test --workspace --release --exclude dyad-tests
	# The end-to-end tests print their per-suite conformance tables.
	$(CARGO) test --release -p dyad-tests -- --nocapture

deps:
	tools/install-deps.sh

deps-bench:
	tools/install-deps.sh --bench

initiator: $(INITIATOR)

$(INITIATOR): tests/initiator/iscsi-pattern.c
	@mkdir -p $(@D)
	$(CC) -O2 -g -std=gnu11 -Wall -Wextra -Werror -o $@ $< -liscsi

# The firmware against tgtd, interleaved, in one run (about 7 minutes at the defaults).
bench: deps-bench
	$(CARGO) build --release -p firmware -p tools
	$(MAKE) initiator
	target/release/dyad bench $(BENCH_ARGS)

# Not part of `make test`: each cargo-fuzz target of the iSCSI codec for FUZZ_SECONDS,
# on the nightly toolchain, starting from the committed seeds.
fuzz:
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	set -e; cd $(FUZZ_DIR)/.. && for target in $$(cargo +nightly fuzz list); do \
	    mkdir -p fuzz/corpus/$$target; \
	    if [ -d fuzz/seeds/$$target ]; then cp -n fuzz/seeds/$$target/* fuzz/corpus/$$target/; fi; \
	    dict=; if [ -f fuzz/login.dict ]; then dict=-dict=fuzz/login.dict; fi; \
	    echo "== fuzzing $$target for $(FUZZ_SECONDS) s"; \
	    cargo +nightly fuzz run $$target -- -max_total_time=$(FUZZ_SECONDS) $$dict; \
	done

# Build output only: var/enclosure (the drives `make run` uses) is left alone.
clean:
	$(CARGO) clean
	rm -rf $(FUZZ_DIR)/target
