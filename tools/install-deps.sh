#!/usr/bin/env bash
# Installs what dyad's tests need on a Debian 12 machine (with --bench, also what the
# benchmark uses), and does nothing when it is all there. `apt-get update` runs only when
# a package is missing, and then once.
set -euo pipefail

# libiscsi-bin: iscsi-test-cu, iscsi-ls, iscsi-inq, iscsi-perf (the real initiators);
# libiscsi-dev + gcc: the iscsi-pattern and iscsi-pr helpers; tgt: the peer target the harness is
# proven on and the benchmark compares with; coreutils' stdbuf is always there.
packages=(libiscsi-bin libiscsi-dev tgt gcc)
# qemu-system-x86 + xz-utils: `dyad qemu` and the QEMU test (the two controller machines; xz
# unpacks Debian's kernel). Nothing needs qemu-img: the drives are made with truncate. (On
# Debian 12 with backports, installing qemu-system-x86 may remove a newer qemu-utils.)
packages+=(qemu-system-x86 xz-utils)
if [[ "${1:-}" == "--bench" ]]; then
    # The loopback TCP ceiling; `dyad bench` has a built-in fallback without it.
    packages+=(iperf3)
fi

# python3-venv: the venv imgtool goes into (below), when python3 cannot make one yet.
python3 -c 'import ensurepip, venv' 2>/dev/null || packages+=(python3 python3-venv)

missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$package")
    fi
done

if ((${#missing[@]} > 0)); then
    echo "install-deps: installing ${missing[*]}"
    sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        sudo=(sudo)
    fi
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update
    "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
fi

# The cargo tools `make test` uses are rustup components of the one toolchain.
for component in rustfmt clippy; do
    tool=$([[ $component == rustfmt ]] && echo fmt || echo clippy)
    if ! cargo "$tool" --version >/dev/null 2>&1; then
        echo "install-deps: adding the $component component"
        rustup component add "$component"
    fi
done

# imgtool 2.5.0 from PyPI: the independent check that our firmware images are MCUboot's format
# (tests/tests/image.rs runs `imgtool verify`). In a venv under target/, so nothing outside the
# repository changes; the tests look for it there.
imgtool_venv="$(cd "$(dirname "$0")/.." && pwd)/target/imgtool-venv"
if [[ "$("$imgtool_venv/bin/imgtool" version 2>/dev/null)" != "2.5.0" ]]; then
    echo "install-deps: installing imgtool 2.5.0 into $imgtool_venv"
    python3 -m venv "$imgtool_venv"
    "$imgtool_venv/bin/pip" install --quiet --disable-pip-version-check imgtool==2.5.0
fi

# defmt-print: decodes the board firmware's defmt log (tests/tests/defmt_log.rs, the QEMU
# test, `dyad qemu`). Built from crates.io once (a few minutes), then found on PATH.
if ! command -v defmt-print >/dev/null 2>&1 && [[ ! -x "$HOME/.cargo/bin/defmt-print" ]]; then
    echo "install-deps: installing defmt-print from crates.io"
    cargo install --locked defmt-print@1.2.0
fi
