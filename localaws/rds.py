"""RDS MySQL instances as real MariaDB servers.

Every DB instance the emulator describes (engine mysql or mariadb) gets a MariaDB server of its
own, listening on the instance's endpoint (a loopback address: localaws.emulator, fix 12), with
its master user, password and initial database as CreateDBInstance and ModifyDBInstance received
them. RDS never returns the password through its API; the emulator keeps it on the "service side"
(``rds-service.json``), which only this module reads, as only RDS reads its own copy. The
instance is ``creating`` in the API until its server answers. DeleteDBInstance stops the server
and removes its data.
"""

from __future__ import annotations

import getpass
import logging
import shutil
import subprocess
import threading
import time
from pathlib import Path

from .instances import end_process_group
from .statefiles import read_json, write_json

log = logging.getLogger("localaws.rds")

SERVICE_FILE = "rds-service.json"  # written by the emulator (fix 12)
SERVED_FILE = "rds.json"  # read by the emulator: which instances are served
ENGINES = ("mysql", "mariadb")
START_TIMEOUT = 60.0


def sql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def sql_name(value: str) -> str:
    return "`" + value.replace("`", "``") + "`"


class MariaDB:
    """One DB instance's server: install, start, keep the master user in step, stop, remove."""

    def __init__(self, root: Path, identifier: str, resource_id: str, address: str, port: int):
        self.identifier, self.resource_id = identifier, resource_id
        self.address, self.port = address, port
        self.root = root
        self.data = root / "data"
        self.socket = root / "mysqld.sock"
        self.error_log = root / "mariadb.err"
        self.process: subprocess.Popen | None = None
        self.ready = False
        self.failed = ""
        self.applied: tuple[str, str] | None = None  # (user, password) last set
        self._lock = threading.Lock()
        self._stop = threading.Event()

    # ------------------------------------------------------------------ life
    def start(self, service: dict) -> None:
        threading.Thread(target=self._start, args=(service,), name=f"rds-{self.identifier}", daemon=True).start()

    def _start(self, service: dict) -> None:
        try:
            self._install()
            self._launch()
            self._wait_up()
            self.sync(service)
            if not self._stop.is_set():
                self.ready = True
                log.info("%s: MariaDB serving on %s:%s", self.identifier, self.address, self.port)
        except Exception as exc:  # noqa: BLE001 - a failed server leaves the instance "creating"
            self.failed = f"{type(exc).__name__}: {exc}"
            log.error("%s: MariaDB did not start: %s (see %s)", self.identifier, self.failed, self.error_log)

    def _install(self) -> None:
        marker = self.root / "resource-id"
        if marker.exists() and marker.read_text() == self.resource_id:
            return  # this instance's data, from before a data-plane restart
        shutil.rmtree(self.root, ignore_errors=True)
        self.root.mkdir(parents=True)
        done = subprocess.run(  # noqa: S603 - fixed argv
            [
                "mariadb-install-db",
                "--no-defaults",
                f"--user={getpass.getuser()}",
                f"--datadir={self.data}",
                "--auth-root-authentication-method=socket",
                "--skip-test-db",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"mariadb-install-db failed: {done.stdout[-500:]}{done.stderr[-500:]}")
        marker.write_text(self.resource_id)

    def _launch(self) -> None:
        with self._lock:
            if self._stop.is_set():
                raise RuntimeError("deleted while starting")
            self.process = subprocess.Popen(  # noqa: S603 - fixed argv
                [
                    "mariadbd",
                    "--no-defaults",
                    f"--user={getpass.getuser()}",
                    f"--datadir={self.data}",
                    f"--socket={self.socket}",
                    f"--pid-file={self.root / 'mariadbd.pid'}",
                    f"--bind-address={self.address}",
                    f"--port={self.port}",
                    "--skip-name-resolve",
                    "--innodb-buffer-pool-size=32M",
                    "--character-set-server=utf8mb4",
                    "--collation-server=utf8mb4_unicode_ci",
                    f"--log-error={self.error_log}",
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )

    def _wait_up(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and not self._stop.is_set():
            if self.process.poll() is not None:
                raise RuntimeError(f"mariadbd exited with status {self.process.returncode}")
            if self._sql("SELECT 1", check=False).returncode == 0:
                return
            self._stop.wait(0.2)
        raise RuntimeError(f"mariadbd did not answer within {START_TIMEOUT:g} s")

    def _sql(self, statements: str, check: bool = True) -> subprocess.CompletedProcess:
        # Statements on stdin, never on the command line (ps would show a password there).
        done = subprocess.run(  # noqa: S603 - fixed argv
            ["mariadb", "--no-defaults", f"--socket={self.socket}", "-uroot", "--batch"],
            input=statements,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"SQL failed: {done.stderr.strip()[-300:]}")
        return done

    def sync(self, service: dict) -> None:
        """The master user and password (and the initial database) as RDS received them."""
        user, password = service.get("master_username") or "", service.get("master_user_password") or ""
        if not user or (user, password) == self.applied:
            return
        statements = [
            f"CREATE USER IF NOT EXISTS {sql_string(user)}@'%' IDENTIFIED BY {sql_string(password)};",
            f"ALTER USER {sql_string(user)}@'%' IDENTIFIED BY {sql_string(password)};",
            f"GRANT ALL PRIVILEGES ON *.* TO {sql_string(user)}@'%' WITH GRANT OPTION;",
        ]
        if service.get("db_name"):
            statements.insert(0, f"CREATE DATABASE IF NOT EXISTS {sql_name(service['db_name'])};")
        self._sql("\n".join(statements))
        if self.applied is not None:
            log.info("%s: master password changed (ModifyDBInstance)", self.identifier)
        self.applied = (user, password)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        with self._lock:
            self._stop.set()
            process = self.process
        end_process_group(process, grace=20, kill_wait=5)
        self.ready = False

    def summary(self) -> dict:
        state = "available" if self.ready and self.alive() else ("failed" if self.failed else "creating")
        return {
            "identifier": self.identifier,
            "resource_id": self.resource_id,
            "endpoint": f"{self.address}:{self.port}",
            "state": state,
            "detail": self.failed,
            "pid": self.process.pid if self.alive() else None,
        }


class Databases:
    """Reconciles the emulator's DB instances with MariaDB servers (one pass per data-plane pass)."""

    def __init__(self, plane):
        self.plane = plane
        self.root = plane.state_dir / "rds"
        self.rds = plane.session.client("rds", config=plane.boto_config)
        self.servers: dict[str, MariaDB] = {}

    def _service(self) -> dict:
        return read_json(self.plane.state_dir / SERVICE_FILE, {})

    def reconcile(self) -> list[dict]:
        described = {}
        for page in self.rds.get_paginator("describe_db_instances").paginate():
            for db in page["DBInstances"]:
                if db.get("Engine", "").split("-")[0] in ENGINES and db.get("DBInstanceStatus") != "deleting":
                    described[db["DBInstanceIdentifier"]] = db
        service = self._service()
        for identifier in [i for i in self.servers if i not in described]:
            self._remove(identifier, "deleted")
        for identifier, db in described.items():
            server = self.servers.get(identifier)
            if server is not None and server.resource_id != db["DbiResourceId"]:
                self._remove(identifier, "replaced by a new instance of the same name")
                server = None
            if server is not None and server.ready and not server.alive():
                log.warning("%s: mariadbd exited; starting it again on its data", identifier)
                server = None
            if server is None:
                endpoint = db.get("Endpoint") or {}
                if not endpoint.get("Address"):
                    continue
                server = MariaDB(
                    self.root / identifier,
                    identifier,
                    db["DbiResourceId"],
                    endpoint["Address"],
                    int(endpoint.get("Port") or 3306),
                )
                self.servers[identifier] = server
                log.info("%s: starting MariaDB on %s:%s", identifier, server.address, server.port)
                server.start(service.get(identifier, {}))
            elif server.ready:
                server.sync(service.get(identifier, {}))
        # Stale data of instances from an earlier emulator run.
        if self.root.is_dir():
            for folder in self.root.iterdir():
                if folder.name not in self.servers:
                    shutil.rmtree(folder, ignore_errors=True)
        served = {i: {"resource_id": s.resource_id} for i, s in self.servers.items() if s.ready and s.alive()}
        write_json(self.plane.state_dir / SERVED_FILE, served)
        return [s.summary() for s in sorted(self.servers.values(), key=lambda s: s.identifier)]

    def _remove(self, identifier: str, why: str) -> None:
        server = self.servers.pop(identifier)
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)
        log.info("%s: %s: MariaDB stopped, its data removed", identifier, why)

    def shutdown(self) -> None:
        """Data plane stopped: every server ends; the data stays for the next data plane."""
        for server in self.servers.values():
            server.stop()
        self.servers.clear()
        (self.plane.state_dir / SERVED_FILE).unlink(missing_ok=True)
