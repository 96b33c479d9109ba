"""A WSGI fast path for ``GET /instance``.

The load balancer spread checks and the failover tests poll /instance hard; its answer never
changes within a process (the identity is cached), so it is served from pre-rendered bytes without
building a Flask request. Same body, content negotiation and security headers as the Flask view in
ops.py, which still answers every other method (405) and documents the route.
"""

from __future__ import annotations

import json

from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header


class InstanceFastPath:
    def __init__(self, wsgi_app, identity_cache, headers: dict[str, str]):
        self.wsgi_app = wsgi_app
        self.identity_cache = identity_cache
        self.headers = list(headers.items())
        self._rendered: dict[bool, tuple[bytes, list]] | None = None
        self._identity = None

    def _render(self) -> dict[bool, tuple[bytes, list]]:
        identity = self.identity_cache.get()
        if self._rendered is None or identity is not self._identity:
            text = f"Du er koblet til instans: {identity.instance_id}\n".encode()
            body = json.dumps(identity.as_dict()).encode() + b"\n"
            self._rendered = {
                False: (text, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(text)))]),
                True: (body, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]),
            }
            self._identity = identity
        return self._rendered

    @staticmethod
    def wants_json(environ) -> bool:
        if "format=json" in environ.get("QUERY_STRING", ""):
            return True
        accept = environ.get("HTTP_ACCEPT", "")
        if "json" not in accept:
            return False
        mimes = parse_accept_header(accept, MIMEAccept)
        return mimes["application/json"] > mimes["text/plain"]

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") != "/instance" or environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return self.wsgi_app(environ, start_response)
        body, headers = self._render()[self.wants_json(environ)]
        start_response("200 OK", headers + self.headers + [("Vary", "Accept")])
        return [b""] if environ["REQUEST_METHOD"] == "HEAD" else [body]
