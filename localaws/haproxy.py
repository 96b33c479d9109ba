"""HAProxy as the Application Load Balancer: one master-worker process for every load balancer.

Each ALB listener is a frontend bound to the load balancer's loopback address and the listener's
port; each target group is a backend with the group's own health check; each registered target is
a server. Changes are applied by a seamless reload (master-worker, listening sockets handed over,
old workers finish their requests), with every server's health carried over in a state file. A
target seen for the first time starts out of rotation, like an ALB target in ``initial`` state: it
gets requests only after ``HealthyThresholdCount`` passed checks.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("localaws.haproxy")


@dataclass(frozen=True)
class HealthCheck:
    path: str = "/"
    port: int | None = None  # None: the traffic port
    interval_ms: int = 30000
    timeout_ms: int = 5000
    healthy: int = 5
    unhealthy: int = 2
    matcher: str = "200"


@dataclass(frozen=True)
class Server:
    name: str  # <target id>_<port>
    address: str
    port: int
    draining: bool = False


@dataclass
class Backend:
    name: str
    check: HealthCheck
    servers: list[Server] = field(default_factory=list)


@dataclass(frozen=True)
class Frontend:
    name: str
    address: str
    port: int
    backend: str | None  # None: fixed 503 (no forward action we can serve)
    redirect: bool = False  # a redirect action (HTTP -> HTTPS): 301 to the same URL over https


def matcher_regex(matcher: str) -> str:
    """ALB HttpCode matcher ("200", "200-299", "200,302") as an HAProxy rstatus regex."""
    codes: list[str] = []
    for part in matcher.replace(" ", "").split(","):
        if "-" in part:
            low, high = (int(x) for x in part.split("-", 1))
            codes.extend(str(code) for code in range(low, high + 1))
        elif part:
            codes.append(str(int(part)))
    return "^(" + "|".join(codes) + ")$"


def render(frontends: list[Frontend], backends: list[Backend], new_servers: set[tuple[str, str]], paths) -> str:
    lines = [
        "# Written by localaws.dataplane: the emulator's load balancers. Do not edit.",
        "global",
        f"  stats socket {paths.stats_socket} mode 600 level admin expose-fd listeners",
        f"  server-state-file {paths.state_file}",
        "  hard-stop-after 60s",
        "defaults",
        "  mode http",
        "  log global",
        "  option forwardfor",
        "  option http-server-close",
        "  load-server-state-from-file global",
        "  retries 0",  # an ALB does not retry a failed request on another target
        "  timeout connect 5s",
        "  timeout client 60s",  # the ALB's idle timeout
        "  timeout server 60s",
        "  timeout http-request 10s",
    ]
    for fe in frontends:
        lines += ["", f"frontend {fe.name}", f"  bind {fe.address}:{fe.port}"]
        if fe.redirect:
            lines.append("  http-request redirect scheme https code 301")
        elif fe.backend:
            lines.append(f"  default_backend {fe.backend}")
        else:
            lines.append("  http-request return status 503")
    for be in backends:
        check = be.check
        lines += [
            "",
            f"backend {be.name}",
            "  balance roundrobin",
            "  option httpchk",
            f"  http-check send meth GET uri {check.path} ver HTTP/1.1 hdr Host localhost",
            f"  http-check expect rstatus {matcher_regex(check.matcher)}",
            f"  timeout connect {check.timeout_ms}ms",
            f"  timeout check {check.timeout_ms}ms",
            # A failed check lasts up to the timeout; fastinter (between checks of a server in
            # transition) keeps one check per interval, so a target leaves rotation within
            # UnhealthyThresholdCount x interval + timeout, as on an ALB.
            f"  default-server inter {check.interval_ms}ms fastinter {max(100, check.interval_ms - check.timeout_ms)}ms"
            f" rise {check.healthy} fall {check.unhealthy}",
        ]
        for server in be.servers:
            words = [f"  server {server.name} {server.address}:{server.port} check"]
            if check.port:
                words.append(f"port {check.port}")
            if (be.name, server.name) in new_servers:
                words.append("disabled")  # enabled after the reload, starting DOWN (an ALB's "initial")
            lines.append(" ".join(words))
    return "\n".join(lines) + "\n"


class Paths:
    def __init__(self, directory: Path):
        self.dir = directory
        self.config = directory / "haproxy.cfg"
        self.pid = directory / "haproxy.pid"
        self.master_socket = directory / "master.sock"
        self.stats_socket = directory / "stats.sock"
        self.state_file = directory / "servers.state"
        self.log = directory / "haproxy.log"


class HAProxy:
    def __init__(self, directory: Path, binary: str = "haproxy"):
        self.paths = Paths(directory)
        self.binary = binary
        self._config = ""
        self._servers: set[tuple[str, str]] = set()
        self._draining: set[tuple[str, str]] = set()

    # ------------------------------------------------------------------ runtime API
    def command(self, text: str, timeout: float = 2.0) -> str:
        """Run CLI commands (``a; b``) on the current worker, through the master's CLI (``@1``).
        The stats socket is shared by the old and the new worker for a moment after a reload, so
        a command sent there may reach the old one: a state saved from it, or a new server put in
        rotation on it only, would be lost. The master's socket is away while it re-executes
        itself on a reload, and back within moments."""
        routed = "; ".join(f"@1 {part.strip()}" for part in text.split(";"))
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                    sock.settimeout(timeout)
                    sock.connect(str(self.paths.master_socket))
                    sock.sendall(routed.encode() + b"\n")
                    sock.shutdown(socket.SHUT_WR)  # the master answers, then closes
                    chunks = []
                    while True:
                        chunk = sock.recv(65536)
                        if not chunk:
                            break
                        chunks.append(chunk)
                return b"".join(chunks).decode(errors="replace")
            except (ConnectionRefusedError, FileNotFoundError):
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.02)

    def master_pid(self) -> int | None:
        try:
            pid = int(self.paths.pid.read_text().split()[0])
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError, IndexError):
            return None

    def worker_pid(self) -> int | None:
        try:
            for line in self.command("show info").splitlines():
                if line.startswith("Pid:"):
                    return int(line.split(":", 1)[1])
        except OSError:
            return None
        return None

    def server_status(self) -> dict[tuple[str, str], str]:
        """(backend, server) -> UP | DOWN | MAINT | DRAIN | NOLB ... as HAProxy sees it now."""
        if self.master_pid() is None:
            return {}
        try:
            text = self.command("show stat")
        except OSError:
            return {}
        header: list[str] = []
        status: dict[tuple[str, str], str] = {}
        for line in text.splitlines():
            if line.startswith("# "):
                header = line[2:].split(",")
                continue
            if not line or not header:
                continue
            row = dict(zip(header, line.split(","), strict=False))
            if row.get("svname") in ("FRONTEND", "BACKEND"):
                continue
            status[(row["pxname"], row["svname"])] = row.get("status", "")
        return status

    # ------------------------------------------------------------------ lifecycle
    def apply(self, frontends: list[Frontend], backends: list[Backend]) -> bool:
        """Make HAProxy serve exactly this. Returns True when it (re)loaded."""
        if not frontends:
            self.stop()
            return False
        servers = {(be.name, s.name) for be in backends for s in be.servers}
        new_servers = servers - self._servers
        draining = {(be.name, s.name) for be in backends for s in be.servers if s.draining}
        text = render(frontends, backends, new_servers, self.paths)
        running = self.master_pid() is not None
        if running and text == self._config and draining == self._draining:
            return False
        self.paths.dir.mkdir(parents=True, exist_ok=True)
        if running and text != self._config:
            self._save_state()
        self.paths.config.write_text(text)
        self._check_config()
        if running and text != self._config:
            self._reload()
        elif not running:
            self._start()
        self._config = text
        commands = []
        for backend, server in sorted(new_servers):
            # Out of rotation until HealthyThresholdCount checks pass (ALB "initial").
            commands += [f"set server {backend}/{server} state ready", f"set server {backend}/{server} health down"]
        for backend, server in sorted(draining - self._draining):
            commands.append(f"set server {backend}/{server} state drain")
        if commands:
            self.command("; ".join(commands))
        self._servers = servers
        self._draining = draining
        return True

    def _check_config(self) -> None:
        result = subprocess.run(
            [self.binary, "-c", "-q", "-f", str(self.paths.config)], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"haproxy refused {self.paths.config}: {result.stderr.strip() or result.stdout.strip()}")

    def _save_state(self) -> None:
        try:
            self.paths.state_file.write_text(self.command("show servers state"))
        except OSError as exc:
            log.warning("could not save the servers' state before the reload: %s", exc)

    def _wait_for_worker(self, not_pid: int | None, deadline: float) -> None:
        while time.monotonic() < deadline:
            pid = self.worker_pid()
            if pid is not None and pid != not_pid:
                return
            time.sleep(0.02)
        raise RuntimeError(f"haproxy did not come up; see {self.paths.log}")

    def _start(self) -> None:
        for stale in (self.paths.stats_socket, self.paths.master_socket, self.paths.state_file):
            stale.unlink(missing_ok=True)
        with open(self.paths.log, "ab") as out:
            subprocess.run(
                [
                    self.binary,
                    "-W",
                    "-D",
                    "-S",
                    str(self.paths.master_socket),
                    "-p",
                    str(self.paths.pid),
                    "-f",
                    str(self.paths.config),
                ],
                stdout=out,
                stderr=out,
                check=True,
                cwd=self.paths.dir,
            )
        self._wait_for_worker(None, time.monotonic() + 10)
        log.info("haproxy started (master pid %s)", self.master_pid())

    def _reload(self) -> None:
        old = self.worker_pid()
        pid = self.master_pid()
        if pid is None:
            self._start()
            return
        os.kill(pid, signal.SIGUSR2)
        self._wait_for_worker(old, time.monotonic() + 10)
        log.info("haproxy reloaded (worker %s -> %s)", old, self.worker_pid())

    def stop(self) -> None:
        pid = self.master_pid()
        self._config = ""
        self._servers = set()
        self._draining = set()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        for _attempt in range(100):
            try:
                os.kill(pid, 0)
            except OSError:
                break
            time.sleep(0.02)
        else:
            os.kill(pid, signal.SIGKILL)
        self.paths.pid.unlink(missing_ok=True)
        log.info("haproxy stopped")


SAFE_NAME = re.compile(r"[^A-Za-z0-9_.:-]")


def safe(name: str) -> str:
    return SAFE_NAME.sub("_", name)
