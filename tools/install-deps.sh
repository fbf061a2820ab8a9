#!/usr/bin/env bash
# Installs what dyad's tests need on a Debian 12 machine (with --bench, also what the
# benchmark uses), and does nothing when it is all there. `apt-get update` runs only when
# a package is missing, and then once.
set -euo pipefail

# libiscsi-bin: iscsi-test-cu, iscsi-ls, iscsi-inq, iscsi-perf (the real initiators);
# libiscsi-dev + gcc: the iscsi-pattern and iscsi-pr helpers; tgt: the peer target the harness is
# proven on and the benchmark compares with; coreutils' stdbuf is always there.
packages=(libiscsi-bin libiscsi-dev tgt gcc)
if [[ "${1:-}" == "--bench" ]]; then
    # The loopback TCP ceiling; `dyad bench` has a built-in fallback without it.
    packages+=(iperf3)
fi

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
