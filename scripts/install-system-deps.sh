#!/usr/bin/env bash
# Install the system programs `baocao stack` runs, from Debian's packages:
#   clickhouse-server, clickhouse-client  ClickHouse (the stack runs it with its own config)
#   openjdk-17-jre-headless               Java 17+, for the Kafka 4 broker
#   maven                                 fetches the Kafka jars once (cached afterwards)
#   zookeeper                             coordinates two ClickHouse replicas
#                                         (`baocao stack up --clickhouse-replicas 2`)
#   haproxy                               one address in front of the replicas for BI tools
#   python3.11-venv                       `make` creates .venv with python3.11
#   chromium                              the dashboard's browser test (Playwright drives it;
#                                         `playwright install` is never run)
#
# Idempotent: installs only what is missing, and runs `apt-get update` only then, once.
# Needs root, or sudo. Debian's clickhouse-server (and haproxy) package would start a system server on the
# default ports (9000, 8123) with /var/lib/clickhouse; a temporary policy-rc.d keeps it from
# starting any service while installing. The project's own server never reads
# /etc/clickhouse-server and listens on other ports (19000, 18123), so the two never collide.
set -euo pipefail

log() { printf 'install-system-deps: %s\n' "$*" >&2; }

packages=()
if [[ ! -x /usr/sbin/clickhouse-server ]]; then
    packages+=(clickhouse-server clickhouse-client)
fi
java_major() {
    # 17 for 'openjdk version "17.0.15"', 8 for 'java version "1.8.0_402"'.
    java -version 2>&1 | sed -n 's/.*version "\(1\.\)\{0,1\}\([0-9]*\).*/\2/p' | head -n 1
}
if command -v java >/dev/null 2>&1; then
    major="$(java_major || true)"
    if (( ${major:-0} < 17 )); then
        packages+=(openjdk-17-jre-headless)
    fi
else
    packages+=(openjdk-17-jre-headless)
fi
if ! command -v mvn >/dev/null 2>&1; then
    packages+=(maven)
fi
if [[ ! -f /usr/share/zookeeper/bin/zkServer.sh ]]; then
    packages+=(zookeeper)
fi
if [[ ! -x /usr/sbin/haproxy ]]; then
    packages+=(haproxy)
fi
if [[ ! -x /usr/bin/chromium ]]; then
    packages+=(chromium)
fi
if command -v python3.11 >/dev/null 2>&1; then
    if ! python3.11 -c 'import ensurepip, venv' >/dev/null 2>&1; then
        packages+=(python3.11-venv)
    fi
else
    packages+=(python3.11 python3.11-venv)
fi

if (( ${#packages[@]} == 0 )); then
    log "all system dependencies are installed"
    exit 0
fi

sudo=()
if (( EUID != 0 )); then
    if ! command -v sudo >/dev/null 2>&1; then
        log "missing: ${packages[*]}; run this script as root (sudo is not available)"
        exit 1
    fi
    sudo=(sudo)
fi

policy=/usr/sbin/policy-rc.d
created_policy=false
cleanup() {
    if [[ "${created_policy}" == true ]]; then
        "${sudo[@]}" rm -f "${policy}"
    fi
}
trap cleanup EXIT
if [[ ! -e "${policy}" ]]; then
    # Exit code 101 tells invoke-rc.d "action forbidden": packages install without starting.
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "${policy}" >/dev/null
    "${sudo[@]}" chmod 755 "${policy}"
    created_policy=true
fi

export DEBIAN_FRONTEND=noninteractive
log "installing: ${packages[*]}"
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}"
log "done"
