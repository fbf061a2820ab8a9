# dyad's entry points for people and CI: run, test, bench, fuzz, clean.
# A fresh Debian 12 machine needs only Rust stable: tools/install-deps.sh installs the rest.

CARGO ?= cargo
# gcc builds the C initiator helper against Debian's libiscsi-dev.
CC := gcc
INITIATOR := target/initiator/iscsi-pattern target/initiator/iscsi-pr
# `make bench BENCH_ARGS="--seconds 5 --rounds 5"`
BENCH_ARGS ?=
# Seconds per fuzz target for `make fuzz`.
FUZZ_SECONDS ?= 60
# The cargo-fuzz projects: the iSCSI codec and login, the SCSI core, ctl.conf.
FUZZ_DIRS := firmware/iscsi/fuzz firmware/scsi/fuzz firmware/config/fuzz firmware/console/fuzz firmware/interlink/fuzz

.PHONY: run test test-conformance deps deps-bench initiator bench fuzz clean firmware-defmt

# One controller in the foreground, serving var/enclosure/ctl.conf (written the first
# time: a 1 GiB drive in slot 0 on 127.0.0.1:3260); `make run CONF=FILE` serves FILE
# instead. It runs the board build (static, defmt) and shows its log decoded as it comes.
# Ctrl-C stops it cleanly.
run:
	$(CARGO) build --release -p tools
	$(MAKE) firmware-defmt
	DYAD_FIRMWARE=$(FIRMWARE_BOARD) target/release/dyad run$(if $(CONF), --config $(CONF))

# Lint, release build, then every unit and integration test; release because the
# integration tests drive target/release/dyad-firmware.
test: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) build --release --workspace
	$(MAKE) firmware-defmt
	$(MAKE) initiator
	$(CARGO) test --workspace --release --exclude dyad-tests
	# The end-to-end tests print their per-suite conformance tables.
	$(CARGO) test --release -p dyad-tests -- --nocapture

# The full libiscsi set alone (every SCSI and iSCSI suite but third-party copy and
# multipath, each test on the LUN shaped for it) on the firmware next to tgtd, per suite;
# `make test` runs it too.
test-conformance: deps
	$(CARGO) build --release -p firmware
	$(CARGO) test --release -p dyad-tests --test conformance -- --nocapture libiscsi_full_set

deps:
	tools/install-deps.sh

deps-bench:
	tools/install-deps.sh --bench

initiator: $(INITIATOR)

# One C helper per source file: iscsi-pattern (writes, COMPARE AND WRITE) and iscsi-pr
# (persistent reservation scripts).
$(INITIATOR): target/initiator/%: tests/initiator/%.c
	@mkdir -p $(@D)
	$(CC) -O2 -g -std=gnu11 -Wall -Wextra -Werror -o $@ $< -liscsi

# The firmware against tgtd, interleaved, in one run (about 7 minutes at the defaults).
bench: deps-bench
	$(CARGO) build --release -p firmware -p tools
	$(MAKE) initiator
	target/release/dyad bench $(BENCH_ARGS)

# Not part of `make test`: each cargo-fuzz target (the iSCSI codec and login, the SCSI
# core) for FUZZ_SECONDS, on the nightly toolchain, starting from the committed seeds.
fuzz:
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	set -e; for dir in $(FUZZ_DIRS); do \
	  cd $(CURDIR)/$$dir/.. && for target in $$(cargo +nightly fuzz list); do \
	    mkdir -p fuzz/corpus/$$target; \
	    if [ -d fuzz/seeds/$$target ]; then cp -n fuzz/seeds/$$target/* fuzz/corpus/$$target/; fi; \
	    dict=; if [ -f fuzz/login.dict ]; then dict=-dict=fuzz/login.dict; fi; \
	    echo "== fuzzing $$target ($$dir) for $(FUZZ_SECONDS) s"; \
	    cargo +nightly fuzz run $$target -- -max_total_time=$(FUZZ_SECONDS) $$dict; \
	  done; \
	done

# Build output only: var/enclosure (the drives `make run` uses) is left alone.
clean:
	$(CARGO) clean
	rm -rf $(addsuffix /target,$(FUZZ_DIRS))

# The board build of the firmware: static, non-PIE, with defmt logging (decoded on the host
# by defmt-print against this unstripped ELF). --target keeps RUSTFLAGS off build scripts.
FIRMWARE_TARGET := x86_64-unknown-linux-gnu
FIRMWARE_BOARD := target/$(FIRMWARE_TARGET)/release/dyad-firmware
firmware-defmt:
	DEFMT_LOG=info RUSTFLAGS="-C relocation-model=static -C target-feature=+crt-static -C link-arg=-L$(CURDIR)/firmware -C link-arg=-Tdefmt-host.x" \
	  $(CARGO) build --release -p firmware --features defmt --target $(FIRMWARE_TARGET)
	@echo "firmware: $(FIRMWARE_BOARD)"

# One signed firmware image of the QEMU board: the kernel and initramfs the QEMU launcher
# left under target/qemu/, bundled and signed with the development key. KERNEL=FILE and
# INITRAMFS=FILE choose others; a part not built yet is replaced by a placeholder made for the
# purpose (it does not boot), and make says so. The key is made on first use under
# var/enclosure/keys/ (ignored by git: never commit it). Prints `image: PATH` and
# `public key: PATH`.
IMAGE_BOARD ?= dyad-qemu
IMAGE_VERSION ?= $(shell sed -n 's/^version = "\(.*\)"$$/\1/p' Cargo.toml | head -n 1)
IMAGE_SECURITY_COUNTER ?= 1
IMAGE_OUT ?= target/image/$(IMAGE_BOARD).img
IMAGE_KEYS := var/enclosure/keys
KERNEL ?= $(firstword $(wildcard target/qemu/kernel/*/vmlinuz))
INITRAMFS ?= $(wildcard target/qemu/image/initramfs.cpio.gz)
.PHONY: image
image:
	$(CARGO) build --release -p tools
	@set -e; mkdir -p target/image; \
	kernel="$(KERNEL)"; initramfs="$(INITRAMFS)"; elf=; \
	if [ -z "$$kernel" ]; then \
	  kernel=target/image/placeholder-kernel; \
	  echo "dyad placeholder kernel: not bootable" > $$kernel; \
	  echo "note: no QEMU kernel under target/qemu/kernel/ (KERNEL=FILE gives one): using the placeholder $$kernel"; \
	fi; \
	if [ -z "$$initramfs" ]; then \
	  initramfs=target/image/placeholder-initramfs; \
	  echo "dyad placeholder initramfs: not bootable" > $$initramfs; \
	  echo "note: no initramfs at target/qemu/image/initramfs.cpio.gz (INITRAMFS=FILE gives one): using the placeholder $$initramfs"; \
	elif [ -f $(FIRMWARE_BOARD) ]; then \
	  elf="--elf $(FIRMWARE_BOARD)"; \
	fi; \
	if [ ! -f $(IMAGE_KEYS)/dyad-image.pem ]; then \
	  target/release/dyad image keygen --out $(IMAGE_KEYS) >/dev/null; \
	  echo "note: made the development key $(IMAGE_KEYS)/dyad-image.pem (never commit it)"; \
	fi; \
	commit=$$(git rev-parse HEAD 2>/dev/null || true); \
	if [ -n "$$commit" ]; then \
	  git diff --quiet HEAD 2>/dev/null || commit="$$commit-dirty"; \
	  commit="--git-commit $$commit"; \
	fi; \
	target/release/dyad image build --kernel "$$kernel" --initramfs "$$initramfs" \
	  --version $(IMAGE_VERSION) --security-counter $(IMAGE_SECURITY_COUNTER) \
	  --board $(IMAGE_BOARD) --key $(IMAGE_KEYS)/dyad-image.pem $$elf $$commit --out $(IMAGE_OUT); \
	echo "public key: $(IMAGE_KEYS)/dyad-image.pub.pem"

# The QEMU enclosure (issue 6): boards A and B as two QEMU machines booting the board
# firmware (make firmware-defmt) on Debian's kernel, fetched once into target/qemu/. The
# launcher flashes the signed image into each board's flash (var/qemu/board-a.flash, when
# the image is new there) and plays the boot ROM: it prints which slot boots, on trial or
# confirmed, and why it refused any; the firmware confirms its image once it is up.
# Consoles: `target/release/dyad console qemu-a|qemu-b`; iSCSI: 127.0.0.1:13260 (A) and
# 13261 (B). TCG unless ACCEL=kvm; NO_FLASH=1 boots the kernel and initramfs directly.
# Ctrl-C stops both machines cleanly.
.PHONY: qemu qemu-images qemu-test
qemu: qemu-images
	target/release/dyad qemu$(if $(ACCEL), --accel $(ACCEL))$(if $(NO_FLASH), --no-flash)

# What the boards boot: the kernel (PVH vmlinux) under target/qemu/kernel/, the initramfs
# target/qemu/image/initramfs.cpio.gz (the firmware as /init, modules, ctl.conf), and both
# bundled into the signed image target/qemu/image/dyad-qemu.img (the development key of
# `make image`, var/enclosure/keys/, made on first use: never commit it).
qemu-images: firmware-defmt
	$(CARGO) build --release -p tools
	target/release/dyad qemu --prepare-only

# The QEMU acceptance test on its own (`make test` runs it with the other tests).
qemu-test: deps qemu-images
	$(MAKE) initiator
	$(CARGO) test --release -p dyad-tests --test qemu -- --nocapture
