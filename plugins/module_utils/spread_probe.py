# Copyright: Contributors to the taskmanager.aws project
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The probe of ``taskmanager.aws.instance_spread``: who answered (JSON field or regular
expression), error kinds, and the concurrent HTTP probe with a per-request timeout and an overall
deadline. The statistics are in ``spread_stats``, the verdict in ``spread_verdict``.
"""

import contextlib
import http.client
import json
import re
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from urllib.error import HTTPError, URLError
from urllib.parse import urljoin, urlsplit
from urllib.request import getproxies, proxy_bypass

from ansible.module_utils.urls import Request, make_context

# EC2 instance IDs (i- and 8 or 17 hex digits) and ECS task IDs (32 hex digits).
DEFAULT_ID_REGEX = r"\b(i-[0-9a-f]{8,17}|[0-9a-f]{32})\b"
# Availability Zone names such as eu-north-1a or us-gov-west-1b.
AZ_REGEX = re.compile(r"\b([a-z]{2}(?:-gov)?-[a-z]+-\d[a-z])\b")
DEFAULT_JSON_ID_KEYS = ("instance_id", "task_id")
MAX_BODY_BYTES = 65536
READ_CHUNK = 8192
MAX_REDIRECTS = 10


class ParseError(Exception):
    """The body did not say who answered."""


class DeadlineExceeded(Exception):
    """The overall time budget ran out while a response was still being read."""


# ---------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------


def compile_id_regex(id_regex=None):
    """Compile O(id_regex) (or the default); raise ValueError with a readable message."""
    pattern = id_regex or DEFAULT_ID_REGEX
    try:
        return re.compile(pattern)
    except re.error as e:
        raise ValueError(f"id_regex {pattern!r} is not a valid regular expression: {e}") from e


def _regex_value(match, name):
    """The named group, else the first group, else the whole match."""
    groups = match.re.groupindex
    if name in groups:
        return match.group(name)
    if name == "id":
        if match.re.groups:
            return match.group(1)
        return match.group(0)
    return None


def lookup_path(data, path):
    """Follow a dotted path (``a.b.0.c``) through dicts and lists; KeyError when absent."""
    current = data
    for part in path.split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            raise KeyError(path)
    return current


def _snippet(body, length=80):
    text = " ".join(body.split())
    return text if len(text) <= length else text[: length - 3] + "..."


def extract_identity(body, id_field=None, id_regex=None, az_field="availability_zone"):
    """Return ``(id, az)`` from a response body; ``az`` may be None.

    JSON objects: O(id_field) (a dotted path) when given, else the keys ``instance_id`` or
    ``task_id``, else the regular expression over the whole body. Text: the regular expression
    (group ``id``, else group 1, else the match); the AZ comes from a group ``az`` or any AZ name
    in the text. Raises ParseError when no ID is found.
    """
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    regex = id_regex if hasattr(id_regex, "search") else compile_id_regex(id_regex)
    data = None
    stripped = body.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except ValueError:
            data = None
    if isinstance(data, dict):
        az = None
        if az_field:
            try:
                az = lookup_path(data, az_field)
            except KeyError:
                az = None
        az = str(az) if az not in (None, "") else None
        if id_field:
            try:
                value = lookup_path(data, id_field)
            except KeyError:
                raise ParseError(f"JSON has no field {id_field!r}: {_snippet(body)}") from None
            if value in (None, "") or isinstance(value, (dict, list)):
                raise ParseError(f"JSON field {id_field!r} holds no ID: {_snippet(body)}")
            return str(value), az
        for key in DEFAULT_JSON_ID_KEYS:
            value = data.get(key)
            if value not in (None, "") and not isinstance(value, (dict, list)):
                return str(value), az
        match = regex.search(body)
        if match:
            return _regex_value(match, "id"), az
        raise ParseError(f"no instance or task ID in JSON: {_snippet(body)}")
    if id_field:
        raise ParseError(f"body is not a JSON object (id_field {id_field!r} given): {_snippet(body)}")
    match = regex.search(body)
    if not match:
        raise ParseError(f"no instance or task ID in body: {_snippet(body)}")
    az = _regex_value(match, "az")
    if az is None:
        az_match = AZ_REGEX.search(body)
        az = az_match.group(1) if az_match else None
    return _regex_value(match, "id"), az


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


def _is_timeout(exc):
    return isinstance(exc, (socket.timeout, TimeoutError)) or "timed out" in str(exc).lower()


def classify_exception(exc):
    """Map an exception from a request to an error kind."""
    if isinstance(exc, DeadlineExceeded):
        return "timeout"
    if isinstance(exc, HTTPError):
        return f"http_{exc.code}"
    if isinstance(exc, ParseError):
        return "unparseable"
    reason = getattr(exc, "reason", None) if isinstance(exc, URLError) else exc
    if reason is None:
        reason = exc
    if _is_timeout(reason):
        return "timeout"
    if isinstance(reason, ConnectionRefusedError):
        return "connection_refused"
    if isinstance(reason, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)):
        return "connection_reset"
    if isinstance(reason, ssl.SSLError) or isinstance(exc, ssl.SSLError):
        return "tls"
    text = str(reason).lower()
    if "refused" in text:
        return "connection_refused"
    if "reset" in text or "remote end closed" in text or "broken pipe" in text:
        return "connection_reset"
    if "name or service not known" in text or "nodename nor servname" in text:
        return "dns"
    return "other"


# ---------------------------------------------------------------------------------------------
# The probe
# ---------------------------------------------------------------------------------------------


def make_http_get(validate_certs=True, keep_alive=True):
    """Return ``fetch(url, headers, timeout, deadline) -> (status, body)``.

    ``keep_alive`` (the default): each worker thread keeps one persistent connection per host and
    sends its requests one after the other on it (see KeepAliveFetch); else every request opens a
    new connection through ansible.module_utils.urls (new_connection_fetch).
    """
    if keep_alive:
        return KeepAliveFetch(validate_certs)
    return new_connection_fetch(validate_certs)


def _read_body(response, deadline):
    """The body, at most MAX_BODY_BYTES, read in chunks so a slowly dripping answer cannot outlive
    the deadline."""
    chunks = []
    size = 0
    while size < MAX_BODY_BYTES:
        chunk = response.read(READ_CHUNK)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if time.monotonic() > deadline:
            raise DeadlineExceeded("time budget exhausted while reading the answer")
    return b"".join(chunks)


def _socket_timeout(timeout, deadline):
    """The smaller of ``timeout`` and the time left before ``deadline`` (DeadlineExceeded if none)."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise DeadlineExceeded("time budget exhausted before the request was sent")
    return max(0.05, min(timeout, remaining))


def new_connection_fetch(validate_certs=True):
    """A fetch that opens a new connection for every request (ansible.module_utils.urls).

    Used through a proxy from the environment (http.client alone does not speak to proxies) and by
    http_probe, which judges a failover as a new visitor sees it. One TLS context is built up front
    and shared: building it per request (what ``open_url`` does) loads the CA store every time and
    costs tens of milliseconds.
    """
    context = make_context(validate_certs=validate_certs)
    # Proxy settings from the environment are honoured; without any, skip their lookup per request.
    use_proxy = bool(getproxies())

    def fetch(url, headers, timeout, deadline):
        response = Request().open(
            "GET",
            url,
            headers=headers,
            timeout=_socket_timeout(timeout, deadline),
            validate_certs=validate_certs,
            follow_redirects="safe",
            use_proxy=use_proxy,
            use_netrc=False,
            context=context,
        )
        try:
            return response.getcode(), _read_body(response, deadline)
        finally:
            response.close()

    return fetch


class KeepAliveFetch:
    """``fetch(url, headers, timeout, deadline)`` over one persistent connection per worker thread.

    Each thread of the probe's pool keeps its own HTTP/1.1 connection per host and reuses it for
    its next request, as a browser or ``wrk`` does; a load balancer still balances every request on
    its own (an ALB does, and so does HAProxy in its default http-keep-alive mode). After any error
    the connection is dropped and the next request opens a new one, so an error is never carried
    over to the next request. A request on a reused connection that the server had closed in the
    meantime (no byte of an answer came back) is sent once more on a new connection, as every HTTP
    client does (RFC 9112, section 9.3.1); a target that resets new connections too is still
    counted as ``connection_reset``. Redirects are followed (GET only, at most MAX_REDIRECTS).
    With a proxy for the URL in the environment, requests go through new_connection_fetch.
    """

    def __init__(self, validate_certs=True):
        self._context = make_context(validate_certs=validate_certs)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections = set()
        self._proxies = getproxies()
        self._through_proxy = new_connection_fetch(validate_certs) if self._proxies else None

    def __call__(self, url, headers, timeout, deadline):
        status = None
        for _redirect in range(MAX_REDIRECTS + 1):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https"):
                raise URLError(f"unsupported URL scheme {parts.scheme!r}")
            if self._through_proxy and parts.scheme in self._proxies and not proxy_bypass(parts.hostname or ""):
                return self._through_proxy(url, headers, timeout, deadline)
            status, reason, location, body = self._exchange(parts, headers, timeout, deadline)
            if status in (301, 302, 303, 307, 308) and location:
                url = urljoin(url, location)
                continue
            if status >= 300:
                # An error answer ends the connection too: the next request starts afresh.
                self._drop(parts, self._connection(parts))
                raise HTTPError(url, status, reason, None, None)
            return status, body
        raise HTTPError(url, status, f"more than {MAX_REDIRECTS} redirects", None, None)

    def _connection(self, parts):
        connections = self._local.__dict__.setdefault("connections", {})
        key = (parts.scheme, parts.hostname, parts.port)
        connection = connections.get(key)
        if connection is None:
            if parts.scheme == "https":
                connection = http.client.HTTPSConnection(parts.hostname, parts.port, context=self._context)
            else:
                connection = http.client.HTTPConnection(parts.hostname, parts.port)
            connections[key] = connection
            with self._lock:
                self._connections.add(connection)
        return connection

    def _drop(self, parts, connection):
        connection.close()
        self._local.__dict__.get("connections", {}).pop((parts.scheme, parts.hostname, parts.port), None)
        with self._lock:
            self._connections.discard(connection)

    def _exchange(self, parts, headers, timeout, deadline):
        """One request and its whole answer: (status, reason, location, body)."""
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        send = dict(headers)
        send.setdefault("User-Agent", "ansible-httpget")
        for attempt in (1, 2):
            connection = self._connection(parts)
            reused = connection.sock is not None
            try:
                seconds = _socket_timeout(timeout, deadline)
                connection.timeout = seconds
                if connection.sock is not None:
                    connection.sock.settimeout(seconds)
                try:
                    connection.request("GET", target, headers=send)
                    response = connection.getresponse()
                except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
                    if reused and attempt == 1:
                        # The server closed the idle connection before it read this request.
                        self._drop(parts, connection)
                        continue
                    raise
                body = _read_body(response, deadline)
                if not response.isclosed():
                    # More than MAX_BODY_BYTES: the rest is never read, so the connection is unusable.
                    self._drop(parts, connection)
                return response.status, response.reason, response.getheader("Location"), body
            except BaseException:
                self._drop(parts, connection)
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self):
        """Close every connection (also those of workers still waiting for an answer)."""
        with self._lock:
            connections = list(self._connections)
            self._connections.clear()
        for connection in connections:
            sock = connection.sock
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            connection.close()


def probe_once(fetch, url, headers, timeout, deadline, parse):
    """One request; a dict with ``ok``, ``id``, ``az``, ``latency``, ``error``, ``detail``."""
    if time.monotonic() >= deadline:
        return {"ok": False, "sent": False, "latency": None, "error": "not_sent", "detail": "time budget exhausted"}
    start = time.monotonic()
    try:
        status, body = fetch(url, headers, timeout, deadline)
        latency = time.monotonic() - start
        ident, az = parse(body)
        return {"ok": True, "sent": True, "id": ident, "az": az, "status": status, "latency": latency}
    except Exception as e:  # pylint: disable=broad-except
        latency = time.monotonic() - start
        kind = classify_exception(e)
        detail = f"{type(e).__name__}: {e}"
        if isinstance(e, HTTPError):
            detail = f"HTTP {e.code} {e.reason}"
        return {"ok": False, "sent": True, "latency": latency, "error": kind, "detail": detail[:300]}


def run_probe(
    url,
    requests=100,
    concurrency=10,
    timeout=5.0,
    time_budget=60.0,
    headers=None,
    validate_certs=True,
    id_field=None,
    id_regex=None,
    az_field="availability_zone",
    fetch=None,
):
    """Send ``requests`` GETs with ``concurrency`` workers within ``time_budget`` seconds.

    Returns ``(samples, elapsed)``. Requests still running at the deadline are reported with the
    error kind ``timeout``; requests not started by then as ``not_sent``. The pool is shut down
    without waiting for stragglers (each is bounded by its own socket timeout).
    """
    fetch = fetch or make_http_get(validate_certs)
    regex = compile_id_regex(id_regex)

    def parse(body):
        return extract_identity(body, id_field=id_field, id_regex=regex, az_field=az_field)

    headers = dict(headers or {})
    start = time.monotonic()
    deadline = start + time_budget
    executor = ThreadPoolExecutor(max_workers=max(1, min(concurrency, requests)))
    samples = []
    try:
        futures = [
            executor.submit(probe_once, fetch, url, headers, timeout, deadline, parse) for _request in range(requests)
        ]
        done, _pending = wait_futures(futures, timeout=max(0.0, deadline - time.monotonic()) + 0.5)
        for future in futures:
            if future in done:
                samples.append(future.result())
            elif future.cancel():
                samples.append(
                    {
                        "ok": False,
                        "sent": False,
                        "latency": None,
                        "error": "not_sent",
                        "detail": "time budget exhausted",
                    }
                )
            else:
                samples.append(
                    {
                        "ok": False,
                        "sent": True,
                        "latency": None,
                        "error": "timeout",
                        "detail": "still running when the time budget ran out",
                    }
                )
    finally:
        executor.shutdown(wait=False, cancel_futures=True)
        close = getattr(fetch, "close", None)
        if close is not None:
            close()
    return samples, time.monotonic() - start
