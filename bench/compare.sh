#!/usr/bin/env bash
# mcdata's partner content server against nginx and Varnish (caching reverse proxies) on
# one machine: hit throughput, cold herds, peak RSS, a cold 1 GiB download.
#
# Usage: bench/compare.sh [options of bench/compare.py]     e.g. --runs 3 --only hits
# Installs what it needs (apt: nginx varnish curl libssl-dev pkg-config; cargo: oha into ~/.cache/mcdata-bench),
# builds mcdata --release, then runs bench/compare.py, which starts every server itself
# (never through systemd), stops them on exit and prints the table (also written to
# target/bench/compare.md). Takes about 7 minutes. See docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

TOOLS="${MCDATA_BENCH_CACHE:-$HOME/.cache/mcdata-bench}"
OHA_VERSION="${OHA_VERSION:-1.16.0}"   # rust-version 1.88; native-tls builds against the system OpenSSL (1.16 does not build without a TLS feature)

need_apt=()
command -v nginx >/dev/null 2>&1 || need_apt+=(nginx)
command -v varnishd >/dev/null 2>&1 || need_apt+=(varnish)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v taskset >/dev/null 2>&1 || need_apt+=(util-linux)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
# oha's native-tls feature links the system OpenSSL.
dpkg -s libssl-dev >/dev/null 2>&1 || need_apt+=(libssl-dev)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
if ((${#need_apt[@]})); then
    echo "==> apt-get install ${need_apt[*]}" >&2
    # policy-rc.d 101: the packages must not start their system services.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
    rm -f /usr/sbin/policy-rc.d
    trap - EXIT
fi

if ! "$TOOLS/bin/oha" --version 2>/dev/null | grep -q "$OHA_VERSION"; then
    echo "==> cargo install oha@$OHA_VERSION into $TOOLS" >&2
    cargo install "oha@$OHA_VERSION" --locked --no-default-features --features native-tls --root "$TOOLS"
fi

echo "==> cargo build --release" >&2
cargo build --release --quiet

exec python3 bench/compare.py --oha "$TOOLS/bin/oha" "$@"
