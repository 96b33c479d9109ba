# Copyright: Contributors to the taskmanager.aws project
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The probe of ``taskmanager.aws.instance_spread``: who answered (JSON field or regular
expression), error kinds, and the concurrent HTTP probe with a per-request timeout and an overall
deadline. The statistics are in ``spread_stats``, the verdict in ``spread_verdict``.
"""

import contextlib
import errno
import http.client
import json
import os
import re
import selectors
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


# ---------------------------------------------------------------------------------------------
# The event loop: N persistent connections in one thread
# ---------------------------------------------------------------------------------------------

MAX_HEAD_BYTES = 65536
RECV_BYTES = 65536
_REDIRECTS = (301, 302, 303, 307, 308)
_UNSAFE_HEADER = re.compile(r"[\r\n\x00]")


_UNSAFE_TARGET = re.compile(r"[\x00-\x20\x7f]")


def loop_supported(url, headers):
    """Whether run_probe can use the event loop for ``url``: plain HTTP, no proxy from the
    environment for it, and a request that can be sent as it is (else http.client in the thread
    pool does, with its own errors for what it refuses)."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        return False
    try:
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number)
    except ValueError:
        return False
    if "http" in getproxies() and not proxy_bypass(parts.hostname):
        return False
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if _UNSAFE_TARGET.search(target) or not target.isascii():
        return False
    if any(_UNSAFE_HEADER.search(str(k)) or _UNSAFE_HEADER.search(str(v)) for k, v in headers.items()):
        return False
    try:
        _request_bytes(parts, headers)
    except UnicodeError:
        return False
    return True


def _request_bytes(parts, headers):
    """The request as bytes, built once: http.client's default headers plus ``headers``."""
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    if parts.port not in (None, 80):
        host = f"{host}:{parts.port}"
    send = {"Host": host, "Accept-Encoding": "identity", "User-Agent": "ansible-httpget"}
    given = {str(k).lower(): k for k in send}
    for name, value in headers.items():
        key = given.pop(str(name).lower(), None)
        if key is not None:
            del send[key]
        send[str(name)] = str(value)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = [f"GET {target} HTTP/1.1"] + [f"{name}: {value}" for name, value in send.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", errors="strict")


def _dechunk(data, start):
    """A chunked body from ``data[start:]``: (body, end) when complete, None when more is needed.

    At most MAX_BODY_BYTES are kept; ``end`` is None when the body was cut there (the connection
    cannot be reused then)."""
    body = bytearray()
    pos = start
    while True:
        line_end = data.find(b"\r\n", pos)
        if line_end < 0:
            return None
        size_text = bytes(data[pos:line_end]).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise http.client.IncompleteRead(bytes(body)) from None
        pos = line_end + 2
        if size == 0:
            # Trailers (if any) end with an empty line.
            trailer_end = data.find(b"\r\n", pos)
            while trailer_end > pos:
                pos = trailer_end + 2
                trailer_end = data.find(b"\r\n", pos)
            if trailer_end < 0:
                return None
            return bytes(body), trailer_end + 2
        if len(data) < pos + size + 2:
            if len(body) + len(data) - pos >= MAX_BODY_BYTES:
                body += data[pos : pos + MAX_BODY_BYTES - len(body)]
                return bytes(body), None
            return None
        body += data[pos : pos + size]
        pos += size + 2
        if len(body) >= MAX_BODY_BYTES:
            return bytes(body[:MAX_BODY_BYTES]), None


def parse_response(data, eof=False):
    """One HTTP/1.x response from the start of ``data`` with minimal parsing.

    Returns None while incomplete, else ``(status, reason, location, body, keep)``; ``keep`` says
    whether the connection can carry the next request. ``eof``: the server closed the connection
    (the end of a body without a length). Raises http.client exceptions for malformed answers, so
    their error kinds are those of http.client.
    """
    while True:
        head_end = data.find(b"\r\n\r\n")
        if head_end < 0:
            if len(data) > MAX_HEAD_BYTES:
                raise http.client.LineTooLong("header block")
            if eof:
                raise http.client.RemoteDisconnected("Remote end closed connection without response")
            return None
        lines = bytes(data[:head_end]).decode("iso-8859-1").split("\r\n")
        version, _sep, rest = lines[0].partition(" ")
        code, _sep, reason = rest.strip().partition(" ")
        if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit():
            raise http.client.BadStatusLine(lines[0])
        status = int(code)
        if 100 <= status < 200 and status != 101:
            # An interim answer (100 Continue): skip it, the real one follows.
            data = data[head_end + 4 :]
            continue
        break
    length = None
    chunked = False
    location = None
    keep = version == "HTTP/1.1"
    for line in lines[1:]:
        name, _sep, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            try:
                length = int(value.strip())
            except ValueError:
                raise http.client.BadStatusLine(line) from None
        elif name == "transfer-encoding":
            chunked = "chunked" in value.lower()
        elif name == "connection":
            value = value.lower()
            if "close" in value:
                keep = False
            elif "keep-alive" in value:
                keep = True
        elif name == "location":
            location = value.strip()
    start = head_end + 4
    if status in (204, 304):
        return status, reason.strip(), location, b"", keep
    if chunked:
        decoded = _dechunk(data, start)
        if decoded is None:
            if eof:
                raise http.client.IncompleteRead(b"")
            return None
        body, end = decoded
        return status, reason.strip(), location, body, keep and end is not None and end == len(data)
    if length is not None:
        wanted = min(length, MAX_BODY_BYTES)
        have = len(data) - start
        if have < wanted:
            if eof:
                # Cut short: what came is judged (as http.client's read(amt) returns it too).
                return status, reason.strip(), location, bytes(data[start:]), False
            return None
        body = bytes(data[start : start + wanted])
        return status, reason.strip(), location, body, keep and wanted == length and have == length
    # No length: the body ends when the server closes the connection.
    if len(data) - start >= MAX_BODY_BYTES:
        return status, reason.strip(), location, bytes(data[start : start + MAX_BODY_BYTES]), False
    if not eof:
        return None
    return status, reason.strip(), location, bytes(data[start:]), False


class _Slot:
    """One worker of the event loop: its persistent connection and the request it carries."""

    __slots__ = (
        "sock",
        "reused",
        "index",
        "started",
        "expires",
        "buf",
        "out",
        "url",
        "parts",
        "redirects",
        "retried",
        "addresses",
        "connecting",
    )

    def __init__(self):
        self.sock = None
        self.reused = False
        self.index = None
        self.started = 0.0
        self.expires = 0.0
        self.buf = bytearray()
        self.out = b""
        self.url = None
        self.parts = None
        self.redirects = 0
        self.retried = False
        self.addresses = []
        self.connecting = False


class LoopProbe:
    """The probe as one event loop (``selectors``) over ``workers`` persistent connections.

    Each worker keeps one HTTP/1.1 connection and sends its requests one after the other on it; a
    request is written as prebuilt bytes and its answer parsed with parse_response, so no thread,
    no ``http.client`` object and no header parser runs per request. The rules are those of
    KeepAliveFetch: a connection is dropped after an error answer or a failed request and the
    next request opens a new one; a request on a reused connection that the server had closed
    before any byte of an answer is sent once more on a new one; ``timeout`` bounds the connect
    and each wait for bytes; ``deadline`` bounds everything. Redirects are followed on the same
    connection when they stay on its host and port, else through a KeepAliveFetch.
    """

    def __init__(self, url, requests, workers, timeout, deadline, headers, parse, validate_certs=True):
        self.url = url
        self.parts = urlsplit(url)
        self.requests = requests
        self.timeout = timeout
        self.deadline = deadline
        self.headers = headers
        self.parse = parse
        self.validate_certs = validate_certs
        self.request = _request_bytes(self.parts, headers)
        self.samples = [None] * requests
        self.next_index = 0
        self.done = 0
        self.slots = [_Slot() for _worker in range(max(1, min(workers, requests)))]
        self.selector = selectors.DefaultSelector()
        self._other_origin = None

    # -- bookkeeping -------------------------------------------------------------------------

    def _finish(self, slot, sample):
        self.samples[slot.index] = sample
        self.done += 1
        slot.index = None

    def _fail(self, slot, exc, now=None):
        """Record ``exc`` as the current request's error and drop the connection."""
        now = now or time.monotonic()
        detail = f"HTTP {exc.code} {exc.reason}" if isinstance(exc, HTTPError) else f"{type(exc).__name__}: {exc}"
        self._close(slot)
        self._finish(
            slot,
            {
                "ok": False,
                "sent": True,
                "latency": now - slot.started,
                "error": classify_exception(exc),
                "detail": detail[:300],
            },
        )

    def _close(self, slot):
        sock = slot.sock
        if sock is not None:
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(sock)
            sock.close()
        slot.sock = None
        slot.reused = False
        slot.connecting = False
        slot.buf = bytearray()

    # -- one request ---------------------------------------------------------------------------

    def _start_next(self, slot, now):
        """Give the slot the next request, if any is left and the budget allows it."""
        # A request that fails at once (connection refused, no such host) frees the slot again.
        while slot.index is None and self.next_index < self.requests and now < self.deadline:
            slot.index = self.next_index
            self.next_index += 1
            slot.started = now
            slot.url = self.url
            slot.parts = self.parts
            slot.out = self.request
            slot.redirects = 0
            slot.retried = False
            self._send(slot, now)
            now = time.monotonic()

    def _send(self, slot, now):
        """Send slot.out on the kept connection, or open one first."""
        slot.expires = min(now + self.timeout, self.deadline)
        slot.buf = bytearray()
        if slot.sock is None:
            self._connect(slot)
            return
        try:
            sent = slot.sock.send(slot.out)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as e:
            self._lost(slot, e)
            return
        slot.out = slot.out[sent:]
        if slot.out:
            self.selector.modify(slot.sock, selectors.EVENT_WRITE, slot)

    def _connect(self, slot):
        parts = slot.parts
        try:
            slot.addresses = socket.getaddrinfo(parts.hostname, parts.port or 80, 0, socket.SOCK_STREAM)
        except OSError as e:
            self._fail(slot, e)
            return
        self._try_address(slot, None)

    def _try_address(self, slot, error):
        """Connect to the next address of the host; fail the request with ``error`` when none is left."""
        if not slot.addresses:
            self._fail(slot, error or OSError("no address to connect to"))
            return
        family, kind, proto, _name, address = slot.addresses.pop(0)
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        code = sock.connect_ex(address)
        if code not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN):
            sock.close()
            self._try_address(slot, OSError(code, os.strerror(code)))
            return
        slot.sock = sock
        slot.reused = False
        slot.connecting = True
        self.selector.register(sock, selectors.EVENT_WRITE, slot)

    def _connected(self, slot, now):
        code = slot.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(slot.sock)
            slot.sock.close()
            slot.sock = None
            slot.connecting = False
            self._try_address(slot, OSError(code, os.strerror(code)))
            return
        slot.connecting = False
        slot.addresses = []
        self.selector.modify(slot.sock, selectors.EVENT_READ, slot)
        self._send(slot, now)

    def _writable(self, slot, now):
        if slot.connecting:
            self._connected(slot, now)
            return
        try:
            sent = slot.sock.send(slot.out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self._lost(slot, e)
            return
        slot.out = slot.out[sent:]
        slot.expires = min(now + self.timeout, self.deadline)
        if not slot.out:
            self.selector.modify(slot.sock, selectors.EVENT_READ, slot)

    def _lost(self, slot, exc):
        """The connection failed while a request was on it (send, or recv before an answer)."""
        if slot.reused and not slot.buf and not slot.retried:
            # The server closed the idle connection before it read this request: once more on a
            # new connection (RFC 9112, section 9.3.1), as KeepAliveFetch does.
            slot.retried = True
            self._close(slot)
            slot.out = self._request_for(slot)
            self._send(slot, time.monotonic())
            return
        self._fail(slot, exc)

    def _request_for(self, slot):
        if slot.url is self.url:
            return self.request
        return _request_bytes(slot.parts, self.headers)

    def _readable(self, slot, now):
        try:
            data = slot.sock.recv(RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self._lost(slot, e)
            return
        if not data:
            if not slot.buf:
                self._lost(slot, http.client.RemoteDisconnected("Remote end closed connection without response"))
                return
            self._answer(slot, now, eof=True)
            return
        slot.buf += data
        slot.expires = min(now + self.timeout, self.deadline)
        self._answer(slot, now, eof=False)

    def _answer(self, slot, now, eof):
        try:
            answer = parse_response(slot.buf, eof)
        except (http.client.HTTPException, ValueError) as e:
            self._fail(slot, e, now)
            return
        if answer is None:
            return
        status, reason, location, body, keep = answer
        if keep:
            slot.reused = True
            slot.buf = bytearray()
        else:
            self._close(slot)
        if status in _REDIRECTS and location:
            self._redirect(slot, status, location, now)
            return
        if status >= 300:
            # An error answer ends the connection too: the next request starts afresh.
            self._fail(slot, HTTPError(slot.url, status, reason, None, None), now)
            return
        self._judge(slot, status, body, now)

    def _judge(self, slot, status, body, now):
        try:
            ident, az = self.parse(body)
        except Exception as e:  # pylint: disable=broad-except
            self._finish(
                slot,
                {
                    "ok": False,
                    "sent": True,
                    "latency": now - slot.started,
                    "error": classify_exception(e),
                    "detail": f"{type(e).__name__}: {e}"[:300],
                },
            )
            return
        self._finish(
            slot, {"ok": True, "sent": True, "id": ident, "az": az, "status": status, "latency": now - slot.started}
        )

    def _redirect(self, slot, status, location, now):
        if slot.redirects >= MAX_REDIRECTS:
            self._fail(slot, HTTPError(slot.url, status, f"more than {MAX_REDIRECTS} redirects", None, None), now)
            return
        slot.redirects += 1
        slot.url = urljoin(slot.url, location)
        parts = urlsplit(slot.url)
        same = (parts.scheme, parts.hostname, parts.port) == (slot.parts.scheme, slot.parts.hostname, slot.parts.port)
        if not same:
            # Another host or scheme (https): KeepAliveFetch answers, blocking the loop for at
            # most this request's timeout.
            self._close(slot)
            if self._other_origin is None:
                self._other_origin = KeepAliveFetch(self.validate_certs)
            try:
                status, body = self._other_origin(slot.url, self.headers, self.timeout, self.deadline)
            except Exception as e:  # pylint: disable=broad-except
                self._fail(slot, e)
                return
            self._judge(slot, status, body, time.monotonic())
            return
        slot.parts = parts
        slot.out = _request_bytes(parts, self.headers)
        slot.retried = False
        self._send(slot, now)

    # -- the loop --------------------------------------------------------------------------------

    def run(self):
        """Probe until every request has an answer or the deadline passed; return the samples."""
        try:
            now = time.monotonic()
            for slot in self.slots:
                self._start_next(slot, now)
            while self.done < self.requests:
                busy = [slot for slot in self.slots if slot.index is not None]
                if not busy:
                    break
                wait = min(slot.expires for slot in busy) - time.monotonic()
                events = self.selector.select(max(0.0, wait)) if wait > 0 else []
                now = time.monotonic()
                for key, mask in events:
                    slot = key.data
                    if slot.index is None:
                        # An idle kept connection became readable: the server closed it.
                        self._close(slot)
                        continue
                    if mask & selectors.EVENT_WRITE:
                        self._writable(slot, now)
                    elif mask & selectors.EVENT_READ:
                        self._readable(slot, now)
                    if slot.index is None:
                        self._start_next(slot, now)
                for slot in busy:
                    if slot.index is not None and now >= slot.expires:
                        if now >= self.deadline:
                            exc = DeadlineExceeded("time budget exhausted while the request was running")
                        else:
                            exc = TimeoutError("timed out")
                        self._fail(slot, exc, now)
                        self._start_next(slot, now)
        finally:
            for slot in self.slots:
                self._close(slot)
            self.selector.close()
            if self._other_origin is not None:
                self._other_origin.close()
        for index in range(self.requests):
            if self.samples[index] is None:
                self.samples[index] = {
                    "ok": False,
                    "sent": False,
                    "latency": None,
                    "error": "not_sent",
                    "detail": "time budget exhausted",
                }
        return self.samples


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
    error kind ``timeout``; requests not started by then as ``not_sent``.

    Plain HTTP without a proxy runs as one event loop over ``concurrency`` persistent connections
    (LoopProbe). HTTPS, a proxy from the environment, or a given ``fetch`` run in a thread pool of
    ``concurrency`` workers, each with its own kept connection (KeepAliveFetch); the pool is shut
    down without waiting for stragglers (each is bounded by its own socket timeout).
    """
    regex = compile_id_regex(id_regex)

    def parse(body):
        return extract_identity(body, id_field=id_field, id_regex=regex, az_field=az_field)

    headers = dict(headers or {})
    start = time.monotonic()
    deadline = start + time_budget
    if fetch is None and loop_supported(url, headers):
        probe = LoopProbe(url, requests, concurrency, timeout, deadline, headers, parse, validate_certs)
        samples = probe.run()
        return samples, time.monotonic() - start
    fetch = fetch or make_http_get(validate_certs)
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
