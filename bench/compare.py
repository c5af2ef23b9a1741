#!/usr/bin/env python3
"""mcdata's partner content server against nginx and Varnish as caching reverse proxies.

Run through bench/compare.sh, which installs nginx, Varnish and oha and builds mcdata
(`--release`) first; this script only orchestrates and reports. See docs/benchmarks.md.

Layout (all on loopback, all state in a tmpfs directory under /dev/shm):
  origin    nginx serving 1k/1m/64m/256m/1g files from tmpfs, Cache-Control: max-age=86400
  slow      bench/slow_origin.py: 1 s before its headers, then a paced body (herds)
  nginx     proxy_cache (on the same tmpfs) + proxy_cache_lock on, worker_processes 1
  varnish   malloc storage
  mcdata    the partner content server, --fsync false, store on the same tmpfs
Every proxy is pinned to core 0 (whatever its thread count); oha, curl and the origins to
core 1. The origin is moved to core 0 while it is measured directly.
"""

import argparse
import base64
import hashlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

PORTS = {"origin": 18080, "slow": 18081, "nginx": 18090, "varnish": 18091, "mcdata": 18092,
         "nginx-tls": 18093, "mcdata-tls": 18094}
# TLS hits: nginx and mcdata serve https with the same (test) certificate.
TLS_CERT = os.path.join(ROOT, "tests/fixtures/tls/server.pem")
TLS_KEY = os.path.join(ROOT, "tests/fixtures/tls/server.key")
PROXIES = ["nginx", "varnish", "mcdata"]
CRED = "bench-credential-1"
SIZES = {"1k": 1024, "1m": 1 << 20, "64m": 64 << 20, "256m": 256 << 20, "1g": 1 << 30}
KIB, MIB, GIB = 1024, 1 << 20, 1 << 30

STARTED = []  # Popen objects we started (each its own session: pid == pgid)
NOTES = []  # lines for the report (busy machine, failures)


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- processes


def pin(core):
    return ["taskset", "-c", str(core)] if core is not None else []


def start(name, argv, env=None, **kw):
    log(f"  start {name}: {' '.join(argv)}")
    out = open(os.path.join(WORK, f"{name}.log"), "ab")
    p = subprocess.Popen(
        argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True, **kw
    )
    p.bench_name = name
    STARTED.append(p)
    return p


def stop(p):
    """Stop one process group we started, by its id."""
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(timeout=5)
    # Children left in the group (varnishd's child, nginx workers) go with the leader,
    # but make sure.
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if p in STARTED:
        STARTED.remove(p)


def stop_all():
    for p in list(reversed(STARTED)):
        stop(p)


def wait_port(port, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s (see {WORK}/*.log)")


def group_pids(pgid):
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if int(fields[2]) == pgid:  # field 5: pgrp
            pids.append(int(d))
    return pids


def rss_kib(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def cpu_seconds(pids):
    """User + system CPU time of `pids` (all their threads), in seconds."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rfind(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def repin(p, core):
    if core is None:
        return
    for pid in group_pids(p.pid):
        subprocess.run(["taskset", "-a", "-p", "-c", str(core), str(pid)], stdout=subprocess.DEVNULL, check=False)


# --------------------------------------------------------------------------- the servers


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def nginx_common(d):
    user = "user root;\n" if os.geteuid() == 0 else ""
    return f"""{user}worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 8192; }}
"""


def nginx_http_common(d):
    return f"""  access_log off;
  sendfile on; tcp_nopush on; tcp_nodelay on;
  keepalive_requests 10000000; keepalive_timeout 120s;
  default_type application/octet-stream;
  client_body_temp_path {d}/client_temp; proxy_temp_path {d}/proxy_temp;
  fastcgi_temp_path {d}/fastcgi_temp; uwsgi_temp_path {d}/uwsgi_temp; scgi_temp_path {d}/scgi_temp;
"""


def start_origin():
    d = os.path.join(WORK, "origin")
    conf = nginx_common(d) + "http {\n" + nginx_http_common(d) + f"""  server {{
    listen 127.0.0.1:{PORTS['origin']} backlog=4096;
    root {WORK}/files;
    location / {{ expires 1d; }}
    location /signed/ {{ alias {WORK}/files/files/; expires 1d; add_header Repr-Digest "sha-256=:{DIGEST_1G}:"; }}
  }}
}}
"""
    write(f"{d}/nginx.conf", conf)
    p = start("origin", pin(CLIENT) + ["nginx", "-p", d + "/", "-e", f"{d}/error.log", "-c", f"{d}/nginx.conf"])
    wait_port(PORTS["origin"])
    return p


def start_slow():
    p = start("slow", pin(CLIENT) + [sys.executable, os.path.join(HERE, "slow_origin.py"), str(PORTS["slow"])])
    wait_port(PORTS["slow"])
    return p


def start_nginx():
    d = os.path.join(WORK, "nginx")
    shutil.rmtree(d, ignore_errors=True)
    conf = nginx_common(d) + "http {\n" + nginx_http_common(d) + f"""  proxy_cache_path {d}/cache levels=1:2 keys_zone=bench:64m max_size=16g inactive=1d use_temp_path=off;
  upstream origin {{ server 127.0.0.1:{PORTS['origin']}; keepalive 64; }}
  upstream slow {{ server 127.0.0.1:{PORTS['slow']}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{PORTS['nginx']} backlog=4096;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_cache bench;
    proxy_cache_lock on;
    proxy_read_timeout 120s;
    add_header X-Cache $upstream_cache_status always;
    location /slow/ {{ proxy_pass http://slow; }}
    location / {{ proxy_pass http://origin; }}
  }}
  server {{
    listen 127.0.0.1:{PORTS['nginx-tls']} ssl backlog=4096;
    ssl_certificate {TLS_CERT};
    ssl_certificate_key {TLS_KEY};
    ssl_session_cache shared:SSL:10m;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_cache bench;
    proxy_cache_lock on;
    add_header X-Cache $upstream_cache_status always;
    location / {{ proxy_pass http://origin; }}
  }}
}}
"""
    write(f"{d}/nginx.conf", conf)
    p = start("nginx", pin(SERVER) + ["nginx", "-p", d + "/", "-e", f"{d}/error.log", "-c", f"{d}/nginx.conf"])
    wait_port(PORTS["nginx"])
    return p


def start_varnish():
    d = os.path.join(WORK, "varnish")
    shutil.rmtree(d, ignore_errors=True)
    vcl = f"""vcl 4.1;
backend origin {{ .host = "127.0.0.1"; .port = "{PORTS['origin']}"; }}
backend slow {{
  .host = "127.0.0.1"; .port = "{PORTS['slow']}";
  .first_byte_timeout = 120s; .between_bytes_timeout = 120s;
}}
sub vcl_recv {{
  if (req.url ~ "^/slow/") {{ set req.backend_hint = slow; }} else {{ set req.backend_hint = origin; }}
}}
sub vcl_deliver {{
  if (obj.hits > 0) {{ set resp.http.X-Cache = "HIT"; }} else {{ set resp.http.X-Cache = "MISS"; }}
}}
"""
    write(f"{d}/bench.vcl", vcl)
    argv = pin(SERVER) + [
        "varnishd", "-F", "-j", "none", "-n", f"{d}/work",
        "-a", f"127.0.0.1:{PORTS['varnish']}", "-T", "127.0.0.1:0",
        "-f", f"{d}/bench.vcl", "-s", "malloc,8G", "-P", f"{d}/varnishd.pid",
    ]
    p = start("varnish", argv)
    wait_port(PORTS["varnish"], timeout=60)
    return p


def start_mcdata():
    d = os.path.join(WORK, "mcdata")
    shutil.rmtree(d, ignore_errors=True)
    env = dict(os.environ, RUST_LOG="warn")
    argv = pin(SERVER) + [
        MCDATA, "content-server", "--system-id", "BENCH",
        "--listen", f"127.0.0.1:{PORTS['mcdata']}", "--store", f"file://{d}", "--fsync", "false",
        "--cache-max-bytes", str(16 * GIB),
        "--peer", f"O,http://127.0.0.1:{PORTS['origin']},{CRED}",
        "--peer", f"S,http://127.0.0.1:{PORTS['slow']},{CRED}",
    ] + ARGS.mcdata_args.split()
    p = start("mcdata", argv, env=env)
    wait_port(PORTS["mcdata"])
    return p


def start_mcdata_tls():
    """A second mcdata, serving https with the certificate nginx has (its own store)."""
    d = os.path.join(WORK, "mcdata-tls")
    shutil.rmtree(d, ignore_errors=True)
    env = dict(os.environ, RUST_LOG="warn")
    argv = pin(SERVER) + [
        MCDATA, "content-server", "--system-id", "BENCH",
        "--listen", f"127.0.0.1:{PORTS['mcdata-tls']}", "--store", f"file://{d}", "--fsync", "false",
        "--cache-max-bytes", str(16 * GIB),
        "--peer", f"O,http://127.0.0.1:{PORTS['origin']},{CRED}",
        "--tls-cert-file", TLS_CERT, "--tls-key-file", TLS_KEY,
    ] + ARGS.mcdata_args.split()
    p = start("mcdata-tls", argv, env=env)
    wait_port(PORTS["mcdata-tls"])
    return p


STARTERS = {"nginx": start_nginx, "varnish": start_varnish, "mcdata": start_mcdata}


def url(target, path):
    if target == "mcdata-tls":
        return f"https://127.0.0.1:{PORTS['mcdata-tls']}/http://127.0.0.1:{PORTS['origin']}{path}"
    if target == "nginx-tls":
        return f"https://127.0.0.1:{PORTS['nginx-tls']}{path}"
    if target == "mcdata":
        up = PORTS["slow"] if path.startswith("/slow/") else PORTS["origin"]
        return f"http://127.0.0.1:{PORTS['mcdata']}/http://127.0.0.1:{up}{path}"
    return f"http://127.0.0.1:{PORTS[target]}{path}"


def get(u, timeout=120):
    ctx = None
    if u.startswith("https://"):
        import ssl
        ctx = ssl.create_default_context(cafile=os.path.join(ROOT, "tests/fixtures/tls/ca.pem"))
    with urllib.request.urlopen(u, timeout=timeout, context=ctx) as r:
        n = 0
        while True:
            b = r.read(1 << 20)
            if not b:
                break
            n += len(b)
        return r.status, r.headers.get("x-cache", "-"), n


# --------------------------------------------------------------------------- the machine


def cpu_times():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return idle, sum(v)


def busy_cores(sample=2.0):
    i0, t0 = cpu_times()
    time.sleep(sample)
    i1, t1 = cpu_times()
    ncpu = os.cpu_count() or 1
    return ncpu * (1 - (i1 - i0) / max(1, t1 - t0))


def wait_quiet(what):
    """Before a batch: wait (30 s at a time, up to 15 min) while something else uses the CPU.
    Measured as CPU use over 2 s right now (our servers idle), not the load average, which
    still carries our own previous batch."""
    waited = 0
    while True:
        busy = busy_cores()
        load = open("/proc/loadavg").read().split()[0]
        if busy <= ARGS.max_busy:
            if waited:
                NOTES.append(f"{what}: waited {waited}s for the machine to be quiet (then {busy:.2f} cores busy)")
            log(f"[{what}] machine quiet: {busy:.2f} cores busy, loadavg {load}")
            return
        if waited >= ARGS.max_wait:
            NOTES.append(f"{what}: machine BUSY ({busy:.2f} cores used by others, loadavg {load}) after waiting {waited}s; measured anyway")
            log(f"[{what}] still busy after {waited}s; measuring anyway")
            return
        log(f"[{what}] busy: {busy:.2f} cores used by other processes (loadavg {load}); waiting 30s")
        time.sleep(30)
        waited += 30


# --------------------------------------------------------------------------- measurements


def oha(u, conns, seconds):
    argv = pin(CLIENT) + [
        OHA, "--no-tui", "--output-format", "json", "-z", f"{seconds}s", "-c", str(conns),
        "-w", u,
    ]
    if u.startswith("https://"):
        # Both TLS servers present the test certificate; oha is told to trust it.
        argv += ["--cacert", os.path.join(ROOT, "tests/fixtures/tls/ca.pem")]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 120)
    if r.returncode != 0:
        raise RuntimeError(f"oha failed: {r.stderr[-500:]}")
    j = json.loads(r.stdout)
    s = j["summary"]
    codes = j.get("statusCodeDistribution", {})
    bad = {k: v for k, v in codes.items() if k != "200"}
    if bad or s.get("successRate", 1) < 1:
        NOTES.append(f"oha {u} c={conns}: status codes {codes}, success rate {s.get('successRate')}")
    return s["requestsPerSec"], s["sizePerSec"]


def measure_hits():
    """Hit figures: alternate origin, nginx, varnish, mcdata within each run; medians."""
    figures = [
        ("1k", 8, "rps"),
        ("1k", 64, "rps"),
        ("1m", 8, "gibps"),
        ("64m", 8, "gibps"),
    ]
    results = {}
    for name, conns, unit in figures:
        wait_quiet(f"hits {name} c={conns}")
        per = {t: [] for t in ["origin"] + PROXIES}
        cpu = {t: [] for t in ["origin"] + PROXIES}
        for run in range(ARGS.runs):
            order = ["origin"] + PROXIES if run % 2 == 0 else list(reversed(["origin"] + PROXIES))
            for t in order:
                if t == "origin":
                    repin(PROCS["origin"], SERVER)
                pids = group_pids(PROCS[t].pid)
                c0, w0 = cpu_seconds(pids), time.time()
                rps, bps = oha(url(t, f"/files/{name}"), conns, ARGS.duration)
                c1, w1 = cpu_seconds(pids), time.time()
                if t == "origin":
                    repin(PROCS["origin"], CLIENT)
                v = rps if unit == "rps" else bps / GIB
                per[t].append(v)
                cpu[t].append((c1 - c0) / (w1 - w0))
                log(
                    f"  {name} c={conns} run {run + 1} {t}: {v:,.2f} {'req/s' if unit == 'rps' else 'GiB/s'}"
                    f" (server CPU {100 * cpu[t][-1]:.0f}%)"
                )
        results[(name, conns, unit)] = {t: statistics.median(v) for t, v in per.items()}
        results[(name, conns, unit)]["_runs"] = per
        results[(name, conns, unit)]["_cpu"] = {t: statistics.median(v) for t, v in cpu.items()}
    return results


def measure_tls():
    """TLS hits: nginx and mcdata, both https with the same certificate; medians."""
    figures = [("1k", 8, "rps"), ("1k", 64, "rps"), ("1m", 8, "gibps")]
    results = {}
    targets = ["nginx-tls", "mcdata-tls"]
    for name, conns, unit in figures:
        wait_quiet(f"tls hits {name} c={conns}")
        per = {t: [] for t in targets}
        cpu = {t: [] for t in targets}
        for run in range(ARGS.runs):
            order = targets if run % 2 == 0 else list(reversed(targets))
            for t in order:
                pids = group_pids(PROCS[t].pid)
                c0, w0 = cpu_seconds(pids), time.time()
                rps, bps = oha(url(t, f"/files/{name}"), conns, ARGS.duration)
                c1, w1 = cpu_seconds(pids), time.time()
                v = rps if unit == "rps" else bps / GIB
                per[t].append(v)
                cpu[t].append((c1 - c0) / (w1 - w0))
                log(f"  tls {name} c={conns} run {run + 1} {t}: {v:,.2f} (server CPU {100 * cpu[t][-1]:.0f}%)")
        m = {t: statistics.median(v) for t, v in per.items()}
        m["_cpu"] = {t: statistics.median(v) for t, v in cpu.items()}
        results[(name, conns, unit)] = m
    return results


def report_tls(tls):
    L = ["### TLS hits (https, same certificate, TLS 1.3; warm caches)", ""]
    L.append("| figure | nginx | mcdata | us/nginx | server CPU nginx | mcdata | CPU per unit us/nginx |")
    L.append("|---|---:|---:|---:|---:|---:|---:|")
    for (name, conns, unit), m in tls.items():
        fmt = (lambda v: f"{v:,.0f}") if unit == "rps" else (lambda v: f"{v:.2f}")
        label = f"{name} hit, c={conns}, " + ("req/s" if unit == "rps" else "GiB/s")
        c = m["_cpu"]
        cost = {t: c[t] / m[t] if m[t] else float("nan") for t in ("nginx-tls", "mcdata-tls")}
        L.append(
            f"| {label} | {fmt(m['nginx-tls'])} | {fmt(m['mcdata-tls'])} | {ratio(m['mcdata-tls'], m['nginx-tls']):.2f} "
            f"| {100 * c['nginx-tls']:.0f}% | {100 * c['mcdata-tls']:.0f}% | {ratio(cost['mcdata-tls'], cost['nginx-tls']):.2f} |"
        )
    L.append("")
    return "\n".join(L)


def curl_argv(u):
    return pin(CLIENT) + curl_cmd(u)


def curl_cmd(u):
    return [
        "curl", "-s", "-o", "/dev/null", "--max-time", "180",
        "-w", "%{time_starttransfer} %{time_total} %{size_download} %{http_code} %header{x-cache}\\n", u,
    ]


def herd(u, clients, sampler_pids=None):
    """`clients` curls on one URL: the leader first, the rest 0.25 s later, at once."""
    peak = [0]
    stop_sampling = threading.Event()

    def sample():
        pids = group_pids(sampler_pids) if sampler_pids else []
        n = 0
        while not stop_sampling.is_set():
            if n % 20 == 0 and sampler_pids:
                pids = group_pids(sampler_pids)
            peak[0] = max(peak[0], rss_kib(pids))
            n += 1
            time.sleep(0.02)

    th = threading.Thread(target=sample, daemon=True)
    if sampler_pids:
        th.start()
    # The waiters are one curl in parallel mode: 99 processes would take about a second to
    # start on one core, one opens its 99 connections within milliseconds, so the whole
    # herd is in flight 0.25 s after the leader, well before any first byte.
    t0 = time.time()
    leader = subprocess.Popen(curl_argv(u), stdout=subprocess.PIPE, text=True)
    time.sleep(0.25)
    argv = pin(CLIENT) + [
        "curl", "-s", "--max-time", "300", "-Z", "--parallel-immediate", "--parallel-max", str(clients),
        "-w", "%{time_starttransfer} %{time_total} %{size_download} %{http_code} %header{x-cache}\\n",
    ]
    for _ in range(clients - 1):
        argv += ["-o", "/dev/null", u]
    waiters = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    lines = leader.communicate(timeout=300)[0].splitlines()
    lines += waiters.communicate(timeout=600)[0].splitlines()
    out = []
    for line in lines:
        f = line.split()
        out.append(
            {
                "ttfb": float(f[0]),
                "total": float(f[1]),
                "size": int(f[2]),
                "code": f[3],
                "xcache": " ".join(f[4:]) or "-",
            }
        )
    if len(out) != clients:
        NOTES.append(f"herd {u}: {len(out)} results for {clients} clients")
    wall = time.time() - t0
    stop_sampling.set()
    if sampler_pids:
        th.join()
    return out, wall, peak[0]


def pct(values, p):
    v = sorted(values)
    if not v:
        return float("nan")
    k = max(0, min(len(v) - 1, int(round(p / 100 * len(v) + 0.5)) - 1))
    return v[k]


def slow_count(path):
    with urllib.request.urlopen(f"http://127.0.0.1:{PORTS['slow']}/count?path={path}", timeout=10) as r:
        return json.loads(r.read())["count"]


def measure_herds():
    res = {}
    for label, secs in [("short", ARGS.herd_short), ("long", ARGS.herd_long)]:
        wait_quiet(f"herd {label}")
        for t in PROXIES:
            path = f"/slow/{label}-{t}-{NONCE}/64m"
            u = url(t, path) + f"?delay=1&secs={secs}"
            out, wall, _ = herd(u, ARGS.herd_clients)
            fetches = slow_count(path)
            leader, waiters = out[0], out[1:]
            ok = sum(1 for o in out if o["code"] == "200" and o["size"] == SIZES["64m"])
            wt = [o["ttfb"] for o in waiters]
            res[(label, t)] = {
                "fetches": fetches,
                "leader": leader["ttfb"],
                "w50": pct(wt, 50),
                "w99": pct(wt, 99),
                "ok": ok,
                "wall": wall,
                "last": max(o["total"] for o in out),
            }
            log(f"  herd {label} ({secs}s fill) {t}: {res[(label, t)]}")
    return res


def measure_rss():
    """Fresh proxies; 100 clients at once on one cold 256 MiB object; peak RSS sampled."""
    wait_quiet("rss")
    res = {}
    for t in PROXIES:
        stop(PROCS[t])
        PROCS[t] = STARTERS[t]()
        time.sleep(1)
        idle = rss_kib(group_pids(PROCS[t].pid))
        out, wall, peak = herd(url(t, f"/files/256m?cold={NONCE}"), ARGS.rss_clients, PROCS[t].pid)
        ok = sum(1 for o in out if o["code"] == "200" and o["size"] == SIZES["256m"])
        res[t] = {"idle": idle / 1024, "peak": peak / 1024, "ok": ok, "wall": wall}
        log(f"  rss {t}: {res[t]}")
    return res


def touch_memory(gib=2):
    """Write and delete `gib` GiB in tmpfs once: on a VM, the first touch of guest memory is
    4x slower than reusing it, and would penalise whichever proxy stores its copy first."""
    path = os.path.join(WORK, "touch")
    block = b"\1" * MIB
    t0 = time.time()
    with open(path, "wb") as f:
        for _ in range(gib * 1024):
            f.write(block)
    took = time.time() - t0
    os.remove(path)
    return took


def curl_once(u):
    r = subprocess.run(curl_argv(u), capture_output=True, text=True)
    f = r.stdout.split()
    if len(f) < 4 or f[3] != "200" or int(f[2]) != SIZES["1g"]:
        NOTES.append(f"cold 1 GiB {u}: {r.stdout.strip() or r.stderr.strip()[-200:]}")
        return float("nan")
    return int(f[2]) / float(f[1]) / GIB


def measure_cold():
    """One cold 1 GiB download through each proxy against the origin served directly: without
    a digest from the origin, and (mcdata only: nginx and Varnish check none) with one.
    Each proxy is restarted fresh before its download, so earlier copies free their memory."""
    wait_quiet("cold 1 GiB")
    variants = {"plain": ("/files/1g", ["origin"] + PROXIES), "signed": ("/signed/1g", ["mcdata"])}
    res = {v: {t: [] for t in targets} for v, (_, targets) in variants.items()}
    for run in range(ARGS.cold_runs):
        for v, (path, targets) in variants.items():
            order = targets if run % 2 == 0 else list(reversed(targets))
            for t in order:
                u = url(t, f"{path}?cold={NONCE}-{run}")
                if t == "origin":
                    repin(PROCS["origin"], SERVER)
                    res[v][t].append(curl_once(u))
                    repin(PROCS["origin"], CLIENT)
                else:
                    stop(PROCS[t])
                    PROCS[t] = STARTERS[t]()
                    busy = busy_cores(1.0)
                    # Right before the download, so that its pages are reused at once.
                    took = touch_memory()
                    res[v][t].append(curl_once(u))
                    # Free the copy at once (stop, drop its files), so that the memory
                    # in use stays the same from one download to the next.
                    stop(PROCS[t])
                    shutil.rmtree(os.path.join(WORK, t), ignore_errors=True)
                    log(f"  cold 1g: {t} restarted, {busy:.2f} cores busy, memory touched at {2 / took:.2f} GiB/s")
                log(f"  cold 1g {v} run {run + 1} {t}: {res[v][t][-1]:.2f} GiB/s")
    for t in PROXIES:
        if PROCS[t].poll() is not None:
            PROCS[t] = STARTERS[t]()
    med = {v: {t: statistics.median(x) for t, x in per.items()} for v, per in res.items()}
    return {"median": med, "runs": res}


# --------------------------------------------------------------------------- report


def ratio(a, b):
    return a / b if b else float("nan")


def verdict(ok):
    return "met" if ok else "MISSED"


def report(hits, herds, rss, cold):
    L = []
    L.append(f"Runs per figure: {ARGS.runs} x {ARGS.duration}s (median), alternating targets; "
             f"proxies on core {SERVER}, oha/curl/origins on core {CLIENT}.")
    L.append("")
    L.append("### Hits (warm caches)")
    L.append("")
    L.append("| figure | origin direct | nginx | Varnish | mcdata | us/nginx | us/Varnish | us/origin | target | |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---|---|")
    want = {"1k": 1.2, "1m": 1.3, "64m": 1.1}
    for (name, conns, unit), m in hits.items():
        fmt = (lambda v: f"{v:,.0f}") if unit == "rps" else (lambda v: f"{v:.2f}")
        label = f"{name} hit, c={conns}, " + ("req/s" if unit == "rps" else "GiB/s")
        un, uv, uo = ratio(m["mcdata"], m["nginx"]), ratio(m["mcdata"], m["varnish"]), ratio(m["mcdata"], m["origin"])
        ok = un >= want[name] and uo >= 0.9
        L.append(
            f"| {label} | {fmt(m['origin'])} | {fmt(m['nginx'])} | {fmt(m['varnish'])} | {fmt(m['mcdata'])} "
            f"| {un:.2f} | {uv:.2f} | {uo:.2f} | >= {want[name]}x nginx, >= 0.9x origin | {verdict(ok)} |"
        )
    L.append("")
    L.append("Server CPU during those runs: share of its core, and CPU time per unit served (median;")
    L.append("where the share is well under 100% the figure is bound by the client, and the CPU per")
    L.append("unit is what tells the servers apart; us/nginx < 1 means we spend less):")
    L.append("")
    L.append("| figure | origin direct | nginx | Varnish | mcdata | CPU us/nginx | CPU us/Varnish |")
    L.append("|---|---:|---:|---:|---:|---:|---:|")
    for (name, conns, unit), m in hits.items():
        c = m["_cpu"]
        if unit == "rps":
            cost = {t: 1e6 * c[t] / m[t] if m[t] else float("nan") for t in c}
            u = "us/req"
        else:
            cost = {t: 1e3 * c[t] / m[t] if m[t] else float("nan") for t in c}
            u = "ms/GiB"
        cell = lambda t: f"{100 * c[t]:.0f}%, {cost[t]:.1f} {u}"  # noqa: E731
        L.append(
            f"| {name} hit, c={conns} | {cell('origin')} | {cell('nginx')} | {cell('varnish')} | {cell('mcdata')} "
            f"| {ratio(cost['mcdata'], cost['nginx']):.2f} | {ratio(cost['mcdata'], cost['varnish']):.2f} |"
        )
    L.append("")
    L.append(f"### Cold herd: {ARGS.herd_clients} clients, one 64 MiB object, origin waits 1 s then paces the body")
    L.append("")
    L.append("| fill | proxy | upstream fetches | leader TTFB s | waiters TTFB p50 s | p99 s | p99/leader | complete bodies | last client done s | target | |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for (label, t), r in herds.items():
        secs = ARGS.herd_short if label == "short" else ARGS.herd_long
        rr = ratio(r["w99"], r["leader"])
        tgt = ""
        if t == "mcdata":
            tgt = f"1 fetch, p99 <= 1.5x leader | {verdict(r['fetches'] == 1 and rr <= 1.5 and r['ok'] == ARGS.herd_clients)}"
        else:
            tgt = " | "
        L.append(
            f"| 1 s + {secs} s body | {t} | {r['fetches']} | {r['leader']:.3f} | {r['w50']:.3f} | {r['w99']:.3f} "
            f"| {rr:.2f} | {r['ok']}/{ARGS.herd_clients} | {r['last']:.1f} | {tgt} |"
        )
    L.append("")
    L.append(f"### Peak RSS: {ARGS.rss_clients} concurrent cold downloads of one 256 MiB object (fresh process)")
    L.append("")
    L.append("| proxy | RSS idle MiB | peak RSS MiB | complete bodies | wall s | target | |")
    L.append("|---|---:|---:|---:|---:|---|---|")
    for t, r in rss.items():
        tgt = f"< 100 MiB | {verdict(r['peak'] < 100 and r['ok'] == ARGS.rss_clients)}" if t == "mcdata" else " | "
        L.append(f"| {t} | {r['idle']:.1f} | {r['peak']:.1f} | {r['ok']}/{ARGS.rss_clients} | {r['wall']:.1f} | {tgt} |")
    L.append("")
    if cold:
        m = cold["median"]
        plain, signed = m["plain"], m["signed"]
        d = plain["origin"]
        L.append(f"### Single cold 1 GiB download (median of {ARGS.cold_runs}; each proxy fresh, pinned to one core)")
        L.append("")
        L.append("| origin sends | origin direct GiB/s | nginx | Varnish | mcdata | us/nginx | us/Varnish | us/origin | target | |")
        L.append("|---|---:|---:|---:|---:|---:|---:|---:|---|---|")
        uo = ratio(plain["mcdata"], d)
        L.append(
            f"| no digest | {d:.2f} | {plain['nginx']:.2f} | {plain['varnish']:.2f} | {plain['mcdata']:.2f} "
            f"| {ratio(plain['mcdata'], plain['nginx']):.2f} | {ratio(plain['mcdata'], plain['varnish']):.2f} "
            f"| {uo:.2f} | >= 0.9x origin | {verdict(uo >= 0.9)} |"
        )
        us = ratio(signed["mcdata"], d)
        L.append(
            f"| Repr-Digest (mcdata verifies it) | {d:.2f} | (checks none) | (checks none) | {signed['mcdata']:.2f} "
            f"| {ratio(signed['mcdata'], plain['nginx']):.2f} | {ratio(signed['mcdata'], plain['varnish']):.2f} "
            f"| {us:.2f} | >= 0.9x origin | {verdict(us >= 0.9)} |"
        )
        L.append("")
    if NOTES:
        L.append("Notes:")
        L.extend(f"- {n}" for n in NOTES)
        L.append("")
    return "\n".join(L)


def versions():
    def first(argv):
        try:
            r = subprocess.run(argv, capture_output=True, text=True)
            return (r.stdout + r.stderr).strip().splitlines()[0]
        except Exception as e:  # noqa: BLE001
            return f"? ({e})"

    mem = open("/proc/meminfo").readline().split()[1]
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    return [
        f"machine: {os.cpu_count()} cores ({cpu}), {int(mem) // 1024 // 1024} GiB, {os.uname().release}",
        first(["nginx", "-v"]),
        first(["varnishd", "-V"]),
        first([OHA, "--version"]),
        first(["curl", "--version"]),
        first([MCDATA, "--version"]) + " (" + subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip() + ")",
        first(["rustc", "--version"]),
    ]


def main():
    global ARGS, WORK, MCDATA, OHA, SERVER, CLIENT, NONCE, PROCS, DIGEST_1G
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mcdata", default=os.path.join(ROOT, "target/release/mcdata"))
    ap.add_argument("--oha", default="oha")
    ap.add_argument("--mcdata-args", default="", help="extra flags for mcdata, e.g. "
                    "'--cache-memory-bytes 268435456 --cache-memory-max-object-bytes 67108864'")
    ap.add_argument("--runs", type=int, default=5, help="runs per hit figure (median)")
    ap.add_argument("--duration", type=int, default=3, help="seconds per oha run")
    ap.add_argument("--herd-clients", type=int, default=100)
    ap.add_argument("--herd-short", type=float, default=2, help="body seconds of the short herd fill")
    ap.add_argument("--herd-long", type=float, default=11, help="body seconds of the long herd fill (> 10 s in all)")
    ap.add_argument("--rss-clients", type=int, default=100)
    ap.add_argument("--cold-runs", type=int, default=5)
    ap.add_argument("--only", default="hits,tls,herds,rss,cold", help="comma list of sections")
    ap.add_argument("--max-busy", type=float, default=0.7, help="cores others may use before we wait")
    ap.add_argument("--max-wait", type=int, default=900, help="seconds to wait for a quiet machine")
    ap.add_argument("--out", default=os.path.join(ROOT, "target/bench/compare.md"))
    ARGS = ap.parse_args()
    MCDATA, OHA = ARGS.mcdata, ARGS.oha
    two = (os.cpu_count() or 1) >= 2
    SERVER, CLIENT = (0, 1) if two else (None, None)
    NONCE = f"{int(time.time())}"
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
    WORK = tempfile.mkdtemp(prefix="mcdata-bench.", dir=shm)
    sections = set(ARGS.only.split(","))
    started_at = time.time()

    def on_signal(sig, _frame):
        raise SystemExit(128 + sig)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        log(f"work dir (tmpfs): {WORK}")
        os.makedirs(f"{WORK}/files/files")
        block = os.urandom(MIB)
        for name, size in SIZES.items():
            with open(f"{WORK}/files/files/{name}", "wb") as f:
                if size < MIB:
                    f.write(block[:size])
                else:
                    for _ in range(size // MIB):
                        f.write(block)
        sha = hashlib.sha256()
        for _ in range(SIZES["1g"] // MIB):
            sha.update(block)
        DIGEST_1G = base64.b64encode(sha.digest()).decode()
        PROCS = {"origin": start_origin(), "slow": start_slow()}
        for t in PROXIES:
            PROCS[t] = STARTERS[t]()
        # Warm the caches (and check that each proxy caches): two GETs each, the second a hit.
        hits = herds = rss = None
        if "hits" in sections:
            for t in PROXIES:
                for name in ["1k", "1m", "64m"]:
                    get(url(t, f"/files/{name}"))
                    st, xc, n = get(url(t, f"/files/{name}"))
                    log(f"  warm {t} {name}: {st} {xc} {n} bytes")
                    if st != 200 or "HIT" not in xc.upper() or n != SIZES[name]:
                        NOTES.append(f"warm-up of {t} {name}: status {st}, X-Cache {xc}, {n} bytes")
            hits = measure_hits()
        tls = {}
        if "tls" in sections:
            PROCS["mcdata-tls"] = start_mcdata_tls()
            PROCS["nginx-tls"] = PROCS["nginx"]
            for t in ["nginx-tls", "mcdata-tls"]:
                for name in ["1k", "1m"]:
                    get(url(t, f"/files/{name}"))
                    st, xc, n = get(url(t, f"/files/{name}"))
                    log(f"  warm {t} {name}: {st} {xc} {n} bytes")
                    if st != 200 or "HIT" not in xc.upper() or n != SIZES[name]:
                        NOTES.append(f"warm-up of {t} {name}: status {st}, X-Cache {xc}, {n} bytes")
            tls = measure_tls()
        herds = measure_herds() if "herds" in sections else {}
        rss = measure_rss() if "rss" in sections else {}
        cold = measure_cold() if "cold" in sections else None
        head = "\n".join(f"- {v}" for v in versions())
        took = time.time() - started_at
        text = f"{head}\n- runtime of this run: {took:.0f} s\n\n" + report(hits or {}, herds, rss, cold)
        if tls:
            text += "\n" + report_tls(tls)
        os.makedirs(os.path.dirname(ARGS.out), exist_ok=True)
        with open(ARGS.out, "w") as f:
            f.write(text + "\n")
        with open(ARGS.out.replace(".md", ".json"), "w") as f:
            json.dump(
                {
                    "hits": {f"{k[0]} c={k[1]} {k[2]}": v for k, v in (hits or {}).items()},
                    "herds": {f"{k[0]} {k[1]}": v for k, v in herds.items()},
                    "rss": rss,
                    "cold": cold,
                    "tls": {f"{k[0]} c={k[1]} {k[2]}": v for k, v in tls.items()},
                    "notes": NOTES,
                },
                f,
                indent=1,
            )
        print(text)
        log(f"written to {ARGS.out}; took {took:.0f} s")
    finally:
        stop_all()
        shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
