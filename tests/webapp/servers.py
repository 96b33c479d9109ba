"""Local server processes shared by the web app tests and bench/webapp_bench.py: stopping a server,
and the shipped nginx site (webapp/deploy/nginx-taskmanager.conf) run unprivileged on loopback in
front of a gunicorn port."""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
from pathlib import Path

DEPLOY = Path(__file__).resolve().parents[2] / "webapp" / "deploy"
SITE = DEPLOY / "nginx-taskmanager.conf"
CACHE_DIR = "/var/lib/nginx/taskmanager-cache"


def stop(proc: subprocess.Popen) -> None:
    """Terminate, wait, kill if it does not go within 15 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def render(workdir: Path, app_port: int, port: int) -> list[str]:
    """Write nginx.conf + site.conf under ``workdir``; return the ``-p/-c`` arguments."""
    site = SITE.read_text()
    for needle in ("server 127.0.0.1:8000", "listen 80 default_server;", CACHE_DIR):
        assert needle in site, f"{SITE.name} no longer contains {needle!r}"
    site = site.replace("127.0.0.1:8000", f"127.0.0.1:{app_port}")
    site = site.replace("listen 80 default_server;", f"listen 127.0.0.1:{port} default_server;")
    site = re.sub(r"\n\s*listen \[::\]:80 default_server;", "", site)
    site = site.replace(CACHE_DIR, str(workdir / "cache"))
    (workdir / "site.conf").write_text(site)
    temp_paths = "".join(
        f" {kind}_temp_path {workdir}/{kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (workdir / "nginx.conf").write_text(
        f"pid {workdir}/nginx.pid;\nerror_log {workdir}/error.log;\n"
        "events { worker_connections 256; }\n"
        f"http {{\n access_log off;\n{temp_paths} include {workdir}/site.conf;\n}}\n"
    )
    return ["-p", str(workdir), "-c", str(workdir / "nginx.conf")]


@contextlib.contextmanager
def nginx_in_front(workdir: Path, app_port: int, port: int):
    """Yield the running nginx (one foreground process without a master, so it keeps the caller's user
    and can write ``workdir``; stopped on exit). ``nginx -t`` must pass first."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    workdir.mkdir(parents=True, exist_ok=True)
    conf = render(workdir, app_port, port)
    check = subprocess.run([nginx, "-t", *conf], capture_output=True, text=True, timeout=30, check=False)
    if check.returncode != 0:
        raise RuntimeError(f"nginx -t failed:\n{check.stderr}")
    proc = subprocess.Popen([nginx, *conf, "-g", "daemon off; master_process off;"], stderr=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        stop(proc)
