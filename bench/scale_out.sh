#!/usr/bin/env bash
# Three partner instances of one system on one S3 bucket behind nginx, end to end
# (docs/scale-out.md): a 60-client herd on one URL, once through a consistent-hash
# balancer on the request URI and once round-robin, with the upstream fetches and the
# copies in the bucket reported for each.
#
# Usage: bench/scale_out.sh [--clients N] [--size 16m]
# Installs what it needs (apt: nginx curl; moto[server] into target/moto, as .ci/run does),
# builds mcdata --release, starts everything on loopback ports itself, stops it on exit.
# Takes about a minute after the build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CLIENTS=60
SIZE=16m
while (($#)); do
    case "$1" in
        --clients) CLIENTS="$2"; shift 2 ;;
        --size) SIZE="$2"; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done

need_apt=()
command -v nginx >/dev/null 2>&1 || need_apt+=(nginx)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
if ((${#need_apt[@]})); then
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
    rm -f /usr/sbin/policy-rc.d
    trap - EXIT
fi
MOTO="$PWD/target/moto/bin/moto_server"
if [ ! -x "$MOTO" ]; then
    python3 -m venv target/moto
    target/moto/bin/pip install --quiet --disable-pip-version-check 'moto[server]==5.2.5'
fi
echo "==> cargo build --release" >&2
cargo build --release --quiet
M="$PWD/target/release/mcdata"

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

S3=39000 ORIGIN=39001 LB=39010 P=(39011 39012 39013)
wait_port() { for _ in $(seq 200); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return; sleep 0.05; done; echo "port $1 never opened" >&2; exit 1; }

"$MOTO" -H 127.0.0.1 -p $S3 >"$WORK/moto.log" 2>&1 & PIDS+=($!)
python3 bench/slow_origin.py $ORIGIN >"$WORK/origin.log" 2>&1 & PIDS+=($!)
wait_port $S3; wait_port $ORIGIN
curl -sS -X PUT "http://127.0.0.1:$S3/mcdata" >/dev/null

start_partners() {   # $1: round name (the S3 prefix)
    for i in 0 1 2; do
        others=()
        for j in 0 1 2; do [ "$j" = "$i" ] || others+=("\"http://127.0.0.1:${P[$j]}\""); done
        cat >"$WORK/p$i.toml" <<EOF
system-id = "P"
listen = "127.0.0.1:${P[$i]}"
public-uri = "http://127.0.0.1:$LB"
store = "s3://mcdata/$1"
s3-endpoint = "http://127.0.0.1:$S3"
s3-region = "us-east-1"
s3-access-key-id = "bench"
s3-secret-access-key = "bench-secret"
spool-dir = "$WORK/spool$i"
instance-id = "p$i"
instances = [$(IFS=,; echo "${others[*]}")]
fsync = false
[[peers]]
system-id = "O"
content-server = "http://127.0.0.1:$ORIGIN"
credential = "origin-credential-1"
EOF
        mkdir -p "$WORK/spool$i"
        RUST_LOG=warn "$M" content-server --config "$WORK/p$i.toml" >"$WORK/p$i-$1.log" 2>&1 & PIDS+=($!)
    done
    for i in 0 1 2; do wait_port "${P[$i]}"; done
}

start_nginx() {   # $1: the upstream balancing line ("hash $request_uri consistent;" or "")
    cat >"$WORK/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    upstream partners {
        $1
        server 127.0.0.1:${P[0]};
        server 127.0.0.1:${P[1]};
        server 127.0.0.1:${P[2]};
        keepalive 32;
    }
    server {
        listen 127.0.0.1:$LB;
        location / {
            proxy_pass http://partners;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }
    }
}
EOF
    nginx -c "$WORK/nginx.conf" -p "$WORK" & NGINX=$!; PIDS+=($NGINX)
    wait_port $LB
}

metric_sum() {   # $1: metric line prefix
    local s=0
    for i in 0 1 2; do
        v=$(curl -sS "http://127.0.0.1:${P[$i]}/metrics" | awk -v m="$1" '$1 == m {print $2}')
        s=$((s + ${v%.*}))
    done
    echo $s
}

round() {   # $1: name, $2: nginx balancing line
    start_partners "$1"
    start_nginx "$2"
    url="http://127.0.0.1:$ORIGIN/slow/$1/$SIZE?delay=1&secs=2"
    start=$(date +%s%N)
    curls=()
    for _ in $(seq "$CLIENTS"); do
        curl -sS -o /dev/null -w '%{http_code} %{size_download}\n' "http://127.0.0.1:$LB/$url" >>"$WORK/$1.out" &
        curls+=($!)
    done
    wait "${curls[@]}" || true
    took=$(( ($(date +%s%N) - start) / 1000000 ))
    sleep 1
    ok=$(grep -c '^200 ' "$WORK/$1.out" || true)
    fetches=$(metric_sum mcdata_upstream_fetches_total)
    copies=$(curl -sS "http://127.0.0.1:$S3/mcdata?list-type=2&prefix=$1/cache/" | grep -o '<Key>[^<]*\.body</Key>' | wc -l)
    printf '| %s | `%s` | %s/%s | %s | %s | %s ms |\n' "$1" "${2:-round-robin}" "$ok" "$CLIENTS" "$fetches" "$copies" "$took"
    kill "$NGINX" 2>/dev/null || true
    for p in "${PIDS[@]:2}"; do kill "$p" 2>/dev/null || true; done
    PIDS=("${PIDS[@]:0:2}")
    sleep 0.5
}

echo
echo "$CLIENTS clients, one $SIZE object (the origin waits 1 s, then sends it over 2 s), 3 instances on one bucket:"
echo
echo '| round | nginx upstream | complete | upstream fetches | copies in the bucket | herd took |'
echo '|---|---|---:|---:|---:|---:|'
round hash 'hash $request_uri consistent;'
round roundrobin ''
