"""``/instance``: which instance, ECS task or local process served this request.

This WSGI middleware is the route's only implementation (there is no Flask view). The load balancer
spread checks and the failover probes poll it hard, and its answer never changes within a process
(the identity is cached), so it answers from pre-rendered bytes without building a Flask request:
about 7x less CPU per request than a Flask view (docs/webapp.md).

Content negotiation (one rule, :func:`wants_json`): JSON when the query has ``format=json`` or the
``Accept`` header ranks ``application/json`` strictly above ``text/plain``; otherwise the course's
text ``Du er koblet til instans: <id>`` (browsers, curl's ``*/*``, no header). Every answer carries
``Vary: Accept`` and the app's security headers. GET and HEAD answer 200, OPTIONS 204, any other
method 405, each with ``Allow``.
"""

from __future__ import annotations

import functools
import json
from urllib.parse import parse_qs

from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header

from .i18n import STRINGS

PATH = "/instance"
ALLOW = "GET, HEAD, OPTIONS"


def instance_text(instance_id: str) -> str:
    """The course's answer for browsers and curl: Norwegian in every UI language (clients parse it)."""
    return STRINGS["nb"]["instance_text"].format(id=instance_id) + "\n"


# Probes send the same query and Accept header on every request: each distinct one is parsed once
# (bounded caches; an odd client only costs a parse).
@functools.lru_cache(maxsize=64)
def _query_wants_json(query_string: str) -> bool:
    return parse_qs(query_string).get("format", [""])[0] == "json"


@functools.lru_cache(maxsize=64)
def _accept_wants_json(accept: str) -> bool:
    mimes = parse_accept_header(accept, MIMEAccept)
    return mimes["application/json"] > mimes["text/plain"]


def wants_json(query_string: str, accept: str) -> bool:
    """The one negotiation rule of /instance (see the module docstring)."""
    if query_string and _query_wants_json(query_string):
        return True
    return bool(accept) and _accept_wants_json(accept)


class InstanceRoute:
    def __init__(self, wsgi_app, identity_cache, headers: dict[str, str]):
        self.wsgi_app = wsgi_app
        self.identity_cache = identity_cache
        self.headers = [*headers.items(), ("Vary", "Accept")]
        self._rendered: dict[bool, tuple[bytes, list]] | None = None
        self._identity = None

    def _render(self) -> dict[bool, tuple[bytes, list]]:
        identity = self.identity_cache.get()
        if self._rendered is None or identity is not self._identity:
            text = instance_text(identity.instance_id).encode()
            body = json.dumps(identity.as_dict()).encode() + b"\n"
            self._rendered = {
                False: (text, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(text)))]),
                True: (body, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]),
            }
            self._identity = identity
        return self._rendered

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") != PATH:
            return self.wsgi_app(environ, start_response)
        method = environ.get("REQUEST_METHOD")
        if method in ("GET", "HEAD"):
            body, headers = self._render()[wants_json(environ.get("QUERY_STRING", ""), environ.get("HTTP_ACCEPT", ""))]
            start_response("200 OK", headers + self.headers)
            return [b""] if method == "HEAD" else [body]
        if method == "OPTIONS":
            start_response("204 No Content", [("Allow", ALLOW), *self.headers])
            return [b""]
        body = b"405 Method Not Allowed: /instance answers GET and HEAD\n"
        start_response(
            "405 Method Not Allowed",
            [
                ("Allow", ALLOW),
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", str(len(body))),
                *self.headers,
            ],
        )
        return [body]
