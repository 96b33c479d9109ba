"""EC2 instances as real local processes.

An instance that the emulator reports ``running`` boots the way the launch template's user data
boots it on EC2 (roles/launch_template/files/taskmanager-bootstrap.sh): the cloud-config's files,
the web app wheel from the artifacts bucket, secrets from Parameter Store, then gunicorn with the
wheel's own gunicorn.conf.py (its master migrates the database before it forks the workers). It
gets a loopback address of its own and an IMDSv2-compatible metadata service on that address. Its
processes live in a cgroup of their own, which freezes (an AZ lost) and is killed as a whole (the
instance stopped or terminated).
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import http.server
import json
import logging
import os
import re
import secrets
import shlex
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import yaml

from .metrics import v1_cpu_dirs

log = logging.getLogger("localaws.instances")

IMDS_PORT = 1338
BOOTSTRAP_ENV = "/etc/taskmanager/bootstrap.env"
ENVIRONMENT = "/etc/taskmanager/environment"
SECRET_PARAMETERS = "/etc/taskmanager/secret-parameters"  # noqa: S105 - a file of parameter names
RESTART_SEC = 3.0  # taskmanager.service: Restart=on-failure, RestartSec=3
ECS_CLUSTER_LINE = re.compile(r"^ECS_CLUSTER=(\S+)\s*$", re.MULTILINE)


def instance_address(private_ip: str | None, port_octet: int, fallback: int) -> str:
    """127.<emulator>.<x>.<y> from the instance's private IP (10.0.x.y): unique within a VPC."""
    try:
        parts = [int(p) for p in (private_ip or "").split(".")]
        third, fourth = parts[2], parts[3]
    except (ValueError, IndexError):
        third, fourth = 200 + fallback // 250, fallback % 250 + 1
    return f"127.{port_octet}.{third}.{fourth}"


def parse_env(text: str) -> dict[str, str]:
    """KEY=value lines as systemd and `.` read them (shell quoting allowed, # comments)."""
    env = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, value = line.split("=", 1)
        words = shlex.split(value) if value else [""]
        env[name.strip()] = words[0] if words else ""
    return env


def unpack_wheel(body: bytes, wheels: Path, lock: threading.Lock) -> Path:
    """A wheel's files, unpacked once per content into wheels/<digest> (importable as is)."""
    site = wheels / hashlib.sha256(body).hexdigest()[:16]
    with lock:
        if not (site / ".complete").exists():
            site.mkdir(parents=True, exist_ok=True)
            wheel = site.with_suffix(".whl")
            wheel.write_bytes(body)
            with zipfile.ZipFile(wheel) as archive:
                archive.extractall(site)
            (site / ".complete").touch()
    return site


def decode_user_data(value: str | None) -> str:
    if not value:
        return ""
    raw = base64.b64decode(value)
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return raw.decode("utf-8", errors="replace")


def end_process_group(process: subprocess.Popen | None, grace: float, kill_wait: float) -> None:
    """End a process and its group: SIGTERM, then SIGKILL when it outlives `grace` seconds."""
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(OSError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(OSError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=kill_wait)


class InstanceStopped(Exception):
    """The instance was stopped while it booted."""


class CGroup:
    """A freezer (and cpu, for load) cgroup of one instance: cgroup v1, or v2 where v1 is absent."""

    ROOT = Path("/sys/fs/cgroup")

    def __init__(self, name: str):
        self.name = name
        if (self.ROOT / "freezer").is_dir():
            self.mode = "v1"
            self.dirs = [self.ROOT / "freezer" / name, *v1_cpu_dirs(name, self.ROOT)]
        elif (self.ROOT / "cgroup.controllers").exists():
            self.mode = "v2"
            self.dirs = [self.ROOT / name]
        else:
            self.mode = "none"
            self.dirs = []

    def create(self) -> bool:
        try:
            for directory in self.dirs:
                directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            log.warning("no cgroup for %s (%s): freezing falls back to SIGSTOP", self.name, exc)
            self.mode, self.dirs = "none", []
        return bool(self.dirs)

    @property
    def procs_file(self) -> Path | None:
        return self.dirs[0] / "cgroup.procs" if self.dirs else None

    def pids(self) -> list[int]:
        if not self.dirs:
            return []
        try:
            return [int(p) for p in self.procs_file.read_text().split()]
        except OSError:
            return []

    def set_frozen(self, frozen: bool) -> None:
        if self.mode == "v1":
            (self.dirs[0] / "freezer.state").write_text("FROZEN" if frozen else "THAWED")
        elif self.mode == "v2":
            (self.dirs[0] / "cgroup.freeze").write_text("1" if frozen else "0")

    def kill_all(self) -> None:
        for pid in self.pids():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)

    def remove(self) -> None:
        for directory in self.dirs:
            for _attempt in range(50):
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)


class MetadataHandler(http.server.BaseHTTPRequestHandler):
    """IMDSv2: PUT /latest/api/token, then GETs with X-aws-ec2-metadata-token."""

    server_version = "EC2ws"
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def _answer(self, status: int, body: str, content_type: str = "text/plain") -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PUT(self):  # noqa: N802 - http.server's naming
        if self.path != "/latest/api/token" or not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
            self._answer(400, "Bad Request")
            return
        token = secrets.token_urlsafe(32)
        self.server.tokens.add(token)
        self._answer(200, token)

    def do_GET(self):  # noqa: N802
        if self.path.startswith("/v4/"):
            # ECS task metadata v4 (the agent's endpoint, no token): /v4/<task id>/task
            task = self.server.tasks.get(self.path.split("/")[2])
            if task is not None and self.path.endswith("/task"):
                self._answer(200, json.dumps(task), "application/json")
            else:
                self._answer(404, "Not Found")
            return
        if self.headers.get("X-aws-ec2-metadata-token") not in self.server.tokens:
            self._answer(401, "Unauthorized")  # IMDSv2 required (the launch template says so)
            return
        meta = self.server.metadata
        paths = {
            "/latest/meta-data/instance-id": meta["instance_id"],
            "/latest/meta-data/instance-type": meta["instance_type"],
            "/latest/meta-data/ami-id": meta["image_id"],
            "/latest/meta-data/local-ipv4": meta["private_ip"],
            "/latest/meta-data/placement/availability-zone": meta["availability_zone"],
            "/latest/meta-data/placement/region": meta["region"],
        }
        if self.path == "/latest/dynamic/instance-identity/document":
            document = {
                "instanceId": meta["instance_id"],
                "instanceType": meta["instance_type"],
                "imageId": meta["image_id"],
                "availabilityZone": meta["availability_zone"],
                "region": meta["region"],
                "privateIp": meta["private_ip"],
                "accountId": meta["account_id"],
            }
            self._answer(200, json.dumps(document, indent=2), "application/json")
        elif self.path in paths:
            self._answer(200, paths[self.path])
        else:
            self._answer(404, "Not Found")


class MetadataServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: str, metadata: dict):
        super().__init__((address, IMDS_PORT), MetadataHandler)
        self.metadata = metadata
        self.tokens: set[str] = set()
        self.tasks: dict[str, dict] = {}  # ECS task id -> task metadata v4


class Instance:
    """One EC2 instance's local life: boot, serve, freeze, stop."""

    def __init__(self, plane, description: dict):
        self.plane = plane
        self.id = description["InstanceId"]
        self.az = description["Placement"]["AvailabilityZone"]
        self.private_ip = description.get("PrivateIpAddress")
        self.instance_type = description.get("InstanceType", "")
        self.image_id = description.get("ImageId", "")
        self.address = instance_address(self.private_ip, plane.port_octet, plane.next_fallback())
        self.root = plane.state_dir / "instances" / self.id
        self.console = self.root / "var/log/cloud-init-output.log"
        self.app_log = self.root / "var/log/taskmanager.log"
        self.cgroup = CGroup(f"localaws-{plane.emulator_port}/{self.id}")
        self.started = time.monotonic()
        self.ecs_cluster: str | None = None  # set at boot when the user data joins an ECS cluster
        self.orphans: list[subprocess.Popen] = []  # tasks stopped while frozen: ended at thaw
        self.state = "booting"  # booting | serving | no-app | boot-failed | stopped
        self.detail = ""
        self.frozen = False
        self.process: subprocess.Popen | None = None
        self.metadata: MetadataServer | None = None
        self._stop = threading.Event()
        self._spawn_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"instance-{self.id}", daemon=True)

    # ------------------------------------------------------------------ public
    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.console.parent.mkdir(parents=True, exist_ok=True)
        self.cgroup.create()
        self.plane.metrics.prepare(self)
        self._thread.start()

    def stop(self) -> None:
        """Power off: every process of the instance ends (SIGTERM, SIGKILL after 0.3 s)."""
        with self._spawn_lock:
            self._stop.set()
        if self.frozen:
            self.set_frozen(False)
        end_process_group(self.process, grace=0.3, kill_wait=2)
        self.cgroup.kill_all()
        self.cgroup.remove()
        if self.metadata is not None:
            self.metadata.shutdown()
            self.metadata.server_close()
            self.metadata = None
        self.state = "stopped"

    def set_frozen(self, frozen: bool) -> None:
        if frozen == self.frozen:
            return
        if self.cgroup.mode != "none":
            self.cgroup.set_frozen(frozen)
        elif self.process is not None:
            with contextlib.suppress(OSError):
                os.killpg(self.process.pid, signal.SIGSTOP if frozen else signal.SIGCONT)
        self.frozen = frozen
        if not frozen:
            for process in self.orphans:
                with contextlib.suppress(OSError):
                    os.killpg(process.pid, signal.SIGKILL)
            self.orphans.clear()
        self._say("power lost (AZ frozen)" if frozen else "power back (AZ thawed)")

    def summary(self) -> dict:
        return {
            "instance_id": self.id,
            "availability_zone": self.az,
            "address": self.address,
            "state": "frozen" if self.frozen else self.state,
            "detail": self.detail,
            "pid": self.process.pid if self.process and self.process.poll() is None else None,
            "console": str(self.console),
        }

    # ------------------------------------------------------------------ boot
    def _say(self, message: str) -> None:
        line = f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {self.id} {message}"
        with open(self.console, "a", encoding="utf-8") as out:
            out.write(line + "\n")

    def _fail(self, message: str) -> None:
        self.state, self.detail = "boot-failed", message
        self._say(f"taskmanager-bootstrap: ERROR: {message}")
        log.error("%s: boot failed: %s", self.id, message)

    def _run(self) -> None:
        try:
            self._boot()
        except InstanceStopped:
            pass
        except Exception as exc:  # noqa: BLE001 - an instance's boot error must not end the data plane
            self._fail(f"{type(exc).__name__}: {exc}")

    def _boot(self) -> None:
        plane = self.plane
        self.metadata = MetadataServer(
            self.address,
            {
                "instance_id": self.id,
                "instance_type": self.instance_type,
                "image_id": self.image_id,
                "private_ip": self.private_ip or "",
                "availability_zone": self.az,
                "region": plane.region,
                "account_id": plane.account_id,
            },
        )
        threading.Thread(target=self.metadata.serve_forever, name=f"imds-{self.id}", daemon=True).start()
        attribute = plane.ec2.describe_instance_attribute(InstanceId=self.id, Attribute="userData")
        user_data = decode_user_data(attribute.get("UserData", {}).get("Value"))
        self._say(f"cloud-init: user data {len(user_data)} bytes, address {self.address}, AZ {self.az}")
        cluster = ECS_CLUSTER_LINE.search(user_data)
        if cluster:
            # The ECS-optimized AMI: the agent reads /etc/ecs/ecs.config and joins the cluster
            # (localaws.ecs registers the instance and runs its tasks).
            self.ecs_cluster = cluster.group(1)
            self.state, self.detail = "ecs-agent", f"ECS agent of cluster {self.ecs_cluster}"
            self._say(f"ecs-agent: joining cluster {self.ecs_cluster}")
            return
        if not user_data.startswith("#cloud-config"):
            self.state, self.detail = "no-app", "no cloud-config user data"
            return
        files = {f["path"]: f.get("content", "") for f in (yaml.safe_load(user_data) or {}).get("write_files", [])}
        for path, content in files.items():
            target = self.root / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
        if BOOTSTRAP_ENV not in files:
            self.state, self.detail = "no-app", "the user data installs no task manager"
            return
        settings = parse_env(files[BOOTSTRAP_ENV])
        self._say(
            f"taskmanager-bootstrap: installing s3://{settings['TASKMANAGER_BUCKET']}/{settings['TASKMANAGER_WHEEL_KEY']}"
        )
        site = self.plane.install_wheel(settings["TASKMANAGER_BUCKET"], settings["TASKMANAGER_WHEEL_KEY"])
        env = self._environment(files, settings, site)
        if env is None or self._stop.is_set():
            return
        self._serve(env, site, settings["TASKMANAGER_PACKAGE"])

    def _environment(self, files: dict, settings: dict, site: Path) -> dict | None:
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TZ")}
        env.update(parse_env(files.get(ENVIRONMENT, "")))
        for name, parameter in parse_env(files.get(SECRET_PARAMETERS, "")).items():
            try:
                value = self.plane.ssm.get_parameter(Name=parameter, WithDecryption=True)["Parameter"]["Value"]
            except self.plane.ssm.exceptions.ParameterNotFound:
                self._fail(f"cannot read SSM parameter {parameter} for {name}; not starting the web app")
                return None
            env[name] = value
            self._say(f"taskmanager-bootstrap: read {name} from SSM parameter {parameter}")
        data_dir = settings.get("TASKMANAGER_DATA_DIR") or "/var/lib/taskmanager"
        env.setdefault("TASKMANAGER_DATA_DIR", data_dir)
        # The instance's file system is its folder: absolute paths in its environment live there.
        for name, value in list(env.items()):
            if name != "PATH" and value.startswith("/"):
                env[name] = str(self.root / value.lstrip("/"))
        Path(env["TASKMANAGER_DATA_DIR"]).mkdir(parents=True, exist_ok=True)
        env.update(self.plane.app_aws_environment())
        env.update(
            {
                "PYTHONPATH": str(site),
                "PYTHONUNBUFFERED": "1",
                "TASKMANAGER_BIND": f"{self.address}:80",
                "TASKMANAGER_IMDS_URL": f"http://{self.address}:{IMDS_PORT}",
                "WEB_CONCURRENCY": str(self.plane.web_concurrency),
                "FORWARDED_ALLOW_IPS": "*",
            }
        )
        env_file = self.root / "etc/taskmanager/taskmanager.env"
        env_file.parent.mkdir(parents=True, exist_ok=True)
        env_file.touch(mode=0o640)
        env_file.write_text("".join(f"{k}={v}\n" for k, v in sorted(env.items())))
        return env

    def spawn(self, argv: list[str], env: dict, out) -> subprocess.Popen:
        """Start a process of this instance (in its cgroup; ended when the instance stops)."""
        return self._spawn(argv, env, out)

    def _spawn(self, argv: list[str], env: dict, out) -> subprocess.Popen:
        with self._spawn_lock:
            if self._stop.is_set():
                raise InstanceStopped(self.id)
            return self._spawn_locked(argv, env, out)

    def _spawn_locked(self, argv: list[str], env: dict, out) -> subprocess.Popen:
        if self.cgroup.dirs:
            # Join the instance's cgroups before exec, so every child is in them from the start.
            procs = " ".join(str(d / "cgroup.procs") for d in self.cgroup.dirs)
            argv = ["/bin/sh", "-c", 'for f in $0; do echo $$ > "$f" || exit 1; done; exec "$@"', procs, *argv]
        return subprocess.Popen(  # noqa: S603 - argv built here
            argv,
            env=env,
            cwd=env["TASKMANAGER_DATA_DIR"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def _last_output(self, offset: int, lines: int = 3) -> list[str]:
        """The last lines the app wrote since `offset` (its failed run)."""
        try:
            with open(self.app_log, "rb") as log_file:
                log_file.seek(offset)
                text = log_file.read()[-8192:].decode("utf-8", errors="replace")
        except OSError:
            return []
        return [line for line in text.splitlines() if line.strip()][-lines:]

    def _serve(self, env: dict, site: Path, package: str) -> None:
        python = sys.executable
        deploy = site / package / "deploy"
        gunicorn = [python, "-m", "gunicorn", "-c", str(deploy / "gunicorn.conf.py"), "taskmanager_webapp.wsgi:app"]
        with open(self.app_log, "ab") as out:
            while not self._stop.is_set():
                # ExecStart=gunicorn; its master migrates the database before it forks the workers
                # (on_starting in the wheel's gunicorn.conf.py). systemd restarts it on failure.
                out.flush()
                started_at = self.app_log.stat().st_size
                self.process = self._spawn(gunicorn, env, out)
                self.state, self.detail = "serving", f"gunicorn on {self.address}:80"
                self._say(f"taskmanager.service started (pid {self.process.pid})")
                code = self.process.wait()
                if self._stop.is_set():
                    return
                self.state, self.detail = "restarting", f"exited with status {code}; see {self.app_log}"
                # StandardError=journal+console (deploy/taskmanager.service): the failed run's last
                # words reach the console, which is what GetConsoleOutput shows.
                for line in self._last_output(started_at):
                    self._say(f"taskmanager.service: {line}")
                self._say(f"taskmanager.service: main process exited, status={code}; restarting in {RESTART_SEC:g} s")
                log.warning("%s: the web app exited with status %s", self.id, code)
                self._stop.wait(RESTART_SEC)
