"""Who is serving: the identity behind ``GET /instance``.

Detection order (first match wins), read once per process and cached:

1. ``TASKMANAGER_INSTANCE_ID`` set: ``kind: local`` with that ID and ``TASKMANAGER_AZ``. Local
   processes standing in for instances (spread and failover tests) use this.
2. ``ECS_CONTAINER_METADATA_URI_V4`` set (the ECS agent sets it in every task): ``kind: ecs``, the
   task ID (last part of the task ARN) and ``AvailabilityZone`` from ``${URI}/task``.
3. IMDSv2, when ``TASKMANAGER_IMDS`` is not ``off`` and either ``TASKMANAGER_IMDS_URL`` is set or
   the machine looks like EC2 (DMI vendor / asset tag, /sys/hypervisor/uuid): a PUT for a token
   with a TTL header, then instance-id and placement/availability-zone with that token; 1 s
   timeouts. ``kind: ec2``.
4. Otherwise ``kind: local`` with the host name as ID.

A failed metadata lookup falls back to step 4 and is retried after ``RETRY_AFTER`` seconds, so a
slow metadata service cannot make every request slow.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

DEFAULT_IMDS_URL = "http://169.254.169.254"
IMDS_TTL_SECONDS = "60"
TIMEOUT = 1.0
RETRY_AFTER = 60.0
EC2_HINT_FILES = (
    ("/sys/devices/virtual/dmi/id/board_asset_tag", "i-"),
    ("/sys/devices/virtual/dmi/id/sys_vendor", "Amazon EC2"),
    ("/sys/hypervisor/uuid", "ec2"),
)


@dataclass(frozen=True)
class Identity:
    instance_id: str
    availability_zone: str | None
    kind: str
    hostname: str

    def as_dict(self) -> dict:
        return asdict(self)


class MetadataError(RuntimeError):
    pass


def _open(url: str, method: str = "GET", headers: dict | None = None) -> str:
    if not url.startswith(("http://", "https://")):
        raise MetadataError(f"metadata URL must be http(s): {url!r}")
    request = urllib.request.Request(url, method=method, headers=headers or {})  # noqa: S310 - scheme checked
    # No proxies: metadata endpoints are link-local / loopback, and a proxy would be a leak.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=TIMEOUT) as response:
            return response.read(65536).decode("utf-8").strip()
    except (OSError, ValueError) as exc:
        raise MetadataError(f"{method} {url}: {exc}") from exc


def looks_like_ec2(hints=EC2_HINT_FILES) -> bool:
    for path, prefix in hints:
        try:
            if Path(path).read_text(encoding="ascii", errors="replace").strip().startswith(prefix):
                return True
        except OSError:
            continue
    return False


def from_imds(base_url: str, hostname: str) -> Identity:
    base = base_url.rstrip("/")
    token = _open(f"{base}/latest/api/token", "PUT", {"X-aws-ec2-metadata-token-ttl-seconds": IMDS_TTL_SECONDS})
    headers = {"X-aws-ec2-metadata-token": token}
    instance_id = _open(f"{base}/latest/meta-data/instance-id", headers=headers)
    zone = _open(f"{base}/latest/meta-data/placement/availability-zone", headers=headers)
    if not instance_id:
        raise MetadataError("empty instance-id from IMDS")
    return Identity(instance_id, zone or None, "ec2", hostname)


def from_ecs(uri: str, hostname: str) -> Identity:
    try:
        task = json.loads(_open(f"{uri.rstrip('/')}/task"))
        arn = task["TaskARN"]
    except (ValueError, KeyError, TypeError) as exc:
        raise MetadataError(f"unexpected ECS task metadata: {exc}") from exc
    return Identity(arn.rsplit("/", 1)[-1], task.get("AvailabilityZone"), "ecs", hostname)


def detect(environ=None) -> tuple[Identity, bool]:
    """Return (identity, authoritative). Not authoritative means a metadata lookup failed."""
    env = os.environ if environ is None else environ
    hostname = socket.gethostname()
    if env.get("TASKMANAGER_INSTANCE_ID"):
        return Identity(env["TASKMANAGER_INSTANCE_ID"], env.get("TASKMANAGER_AZ") or None, "local", hostname), True
    fallback = Identity(hostname, env.get("TASKMANAGER_AZ") or None, "local", hostname)
    if env.get("ECS_CONTAINER_METADATA_URI_V4"):
        try:
            return from_ecs(env["ECS_CONTAINER_METADATA_URI_V4"], hostname), True
        except MetadataError:
            return fallback, False
    imds_mode = (env.get("TASKMANAGER_IMDS") or "auto").lower()
    if imds_mode != "off" and (env.get("TASKMANAGER_IMDS_URL") or imds_mode == "on" or looks_like_ec2()):
        try:
            return from_imds(env.get("TASKMANAGER_IMDS_URL") or DEFAULT_IMDS_URL, hostname), True
        except MetadataError:
            return fallback, False
    return fallback, True


class IdentityCache:
    """Thread-safe, per-process cache: at most one metadata lookup at a time, none per request."""

    def __init__(self, environ=None):
        self._environ = environ
        self._lock = threading.Lock()
        self._value: Identity | None = None
        self._expires = 0.0

    def get(self) -> Identity:
        value = self._value
        if value is not None and (self._expires == 0.0 or time.monotonic() < self._expires):
            return value
        with self._lock:
            if self._value is None or (self._expires and time.monotonic() >= self._expires):
                identity, authoritative = detect(self._environ)
                self._value = identity
                self._expires = 0.0 if authoritative else time.monotonic() + RETRY_AFTER
            return self._value
