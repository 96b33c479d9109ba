"""Loopback stand-ins for the EC2 instance metadata service (IMDSv2) and the ECS task metadata v4."""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKEN = "stand-in-token-7f3a"  # noqa: S105 - fake value of the loopback stand-in


class _Handler(BaseHTTPRequestHandler):
    server: MetadataServer

    def log_message(self, *_args):
        pass

    def _send(self, status: int, body: str, content_type: str = "text/plain") -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PUT(self):  # noqa: N802 - http.server API
        self.server.calls[("PUT", self.path)] += 1
        ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds", "")
        if self.path != "/latest/api/token" or not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
            self._send(400, "missing or invalid TTL header")
            return
        self._send(200, TOKEN)

    def do_GET(self):  # noqa: N802 - http.server API
        self.server.calls[("GET", self.path)] += 1
        if self.path in self.server.ecs:
            self._send(200, json.dumps(self.server.ecs[self.path]), "application/json")
            return
        if self.headers.get("X-aws-ec2-metadata-token") != TOKEN:
            self._send(401, "IMDSv2 token required")
            return
        if self.path in self.server.imds:
            self._send(200, self.server.imds[self.path])
        else:
            self._send(404, "not found")


class MetadataServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, imds: dict | None = None, ecs: dict | None = None):
        super().__init__(("127.0.0.1", port), _Handler)
        self.imds = imds or {}
        self.ecs = ecs or {}
        self.calls: Counter = Counter()
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)


def imds(port: int, instance_id: str = "i-0123456789abcdef0", zone: str = "eu-north-1b") -> MetadataServer:
    return MetadataServer(
        port,
        imds={
            "/latest/meta-data/instance-id": instance_id,
            "/latest/meta-data/placement/availability-zone": zone,
        },
    )


def ecs(port: int, task_id: str = "5f1c0e9d8b7a4c3e9f2a1b0c9d8e7f6a", zone: str = "eu-north-1c") -> MetadataServer:
    arn = f"arn:aws:ecs:eu-north-1:123456789012:task/taskmanager/{task_id}"
    return MetadataServer(
        port, ecs={"/v4/abc/task": {"TaskARN": arn, "AvailabilityZone": zone, "Cluster": "taskmanager"}}
    )
