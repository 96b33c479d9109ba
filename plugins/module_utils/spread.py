# Copyright: Contributors to the taskmanager.aws project
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Engine and pure logic of the ``taskmanager.aws.instance_spread`` module.

Parsing of who answered (JSON field or regular expression), the concurrent probe with a
per-request timeout and an overall deadline, statistics (percentiles, chi-square goodness of
fit with a p-value computed without SciPy), the verdict with plain-words reasons and the
text-bar summary. Nothing here needs boto3.
"""

import json
import math
import re
import socket
import ssl
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from urllib.error import HTTPError, URLError
from urllib.request import getproxies

from ansible.module_utils.urls import Request, make_context

# EC2 instance IDs (i- and 8 or 17 hex digits) and ECS task IDs (32 hex digits).
DEFAULT_ID_REGEX = r"\b(i-[0-9a-f]{8,17}|[0-9a-f]{32})\b"
# Availability Zone names such as eu-north-1a or us-gov-west-1b.
AZ_REGEX = re.compile(r"\b([a-z]{2}(?:-gov)?-[a-z]+-\d[a-z])\b")
DEFAULT_JSON_ID_KEYS = ("instance_id", "task_id")
MAX_BODY_BYTES = 65536
READ_CHUNK = 8192


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
# Statistics
# ---------------------------------------------------------------------------------------------


def percentile(values, q):
    """Percentile ``q`` (0..100) with linear interpolation between closest ranks; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * (q / 100.0)
    low = int(math.floor(rank))
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_summary(latencies):
    """p50/p95/p99/max/mean in milliseconds, rounded to 0.1 ms."""
    result = {}
    for name, q in (("p50", 50), ("p95", 95), ("p99", 99)):
        value = percentile(latencies, q)
        result[name] = None if value is None else round(value * 1000.0, 1)
    result["max"] = round(max(latencies) * 1000.0, 1) if latencies else None
    result["mean"] = round(sum(latencies) / len(latencies) * 1000.0, 1) if latencies else None
    return result


_EPS = 1e-15
_MAX_ITER = 1000


def _gamma_series(a, x):
    """Regularized lower incomplete gamma P(a, x) by its power series (good for x < a + 1)."""
    term = 1.0 / a
    total = term
    denom = a
    for _step in range(_MAX_ITER):
        denom += 1.0
        term *= x / denom
        total += term
        if abs(term) < abs(total) * _EPS:
            break
    return total * math.exp(-x + a * math.log(x) - math.lgamma(a))


def _gamma_continued_fraction(a, x):
    """Regularized upper incomplete gamma Q(a, x) by Lentz's continued fraction (x >= a + 1)."""
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, _MAX_ITER):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        if abs(d) < tiny:
            d = tiny
        c = b + an / c
        if abs(c) < tiny:
            c = tiny
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return math.exp(-x + a * math.log(x) - math.lgamma(a)) * h


def gammaincc(a, x):
    """Regularized upper incomplete gamma function Q(a, x) = Gamma(a, x) / Gamma(a)."""
    if a <= 0:
        raise ValueError("a must be positive")
    if x < 0:
        raise ValueError("x must not be negative")
    if x == 0:
        return 1.0
    if x < a + 1.0:
        return max(0.0, min(1.0, 1.0 - _gamma_series(a, x)))
    return max(0.0, min(1.0, _gamma_continued_fraction(a, x)))


def chi2_sf(statistic, df):
    """Survival function (upper tail, the p-value) of the chi-square distribution."""
    if df <= 0:
        raise ValueError("degrees of freedom must be positive")
    if statistic <= 0:
        return 1.0
    return gammaincc(df / 2.0, statistic / 2.0)


def chi_square_uniform(counts):
    """Chi-square goodness of fit of ``counts`` against an even spread.

    Returns ``{"statistic", "df", "p_value"}``; None when fewer than two categories or no
    observations.
    """
    counts = list(counts)
    total = sum(counts)
    k = len(counts)
    if k < 2 or total <= 0:
        return None
    expected = total / float(k)
    statistic = sum((observed - expected) ** 2 / expected for observed in counts)
    df = k - 1
    return {"statistic": round(statistic, 4), "df": df, "p_value": chi2_sf(statistic, df)}


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


def make_http_get(validate_certs=True):
    """Return ``fetch(url, headers, timeout, deadline) -> (status, body)`` using ansible.module_utils.urls.

    One TLS context is built up front and shared: building it per request (what ``open_url``
    does) loads the CA store every time and costs tens of milliseconds. The socket timeout is the
    smaller of ``timeout`` and the time left before ``deadline``; the body is read in chunks so a
    slowly dripping answer cannot outlive the deadline.
    """
    context = make_context(validate_certs=validate_certs)
    # Proxy settings from the environment are honoured; without any, skip their lookup per request.
    use_proxy = bool(getproxies())

    def fetch(url, headers, timeout, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DeadlineExceeded("time budget exhausted before the request was sent")
        response = Request().open(
            "GET",
            url,
            headers=headers,
            timeout=max(0.05, min(timeout, remaining)),
            validate_certs=validate_certs,
            follow_redirects="safe",
            use_proxy=use_proxy,
            use_netrc=False,
            context=context,
        )
        try:
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
            return response.getcode(), b"".join(chunks)
        finally:
            response.close()

    return fetch


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
    return samples, time.monotonic() - start


# ---------------------------------------------------------------------------------------------
# Aggregation, verdict and summary
# ---------------------------------------------------------------------------------------------


def aggregate(samples, elapsed, max_error_samples=5):
    """Counts per ID and AZ, errors by kind with samples, latency and throughput."""
    counts = {}
    az_counts = {}
    errors = {}
    error_samples = []
    latencies = []
    sent = 0
    not_sent = 0
    for sample in samples:
        if not sample.get("sent", True):
            not_sent += 1
            continue
        sent += 1
        if sample.get("latency") is not None:
            latencies.append(sample["latency"])
        if sample["ok"]:
            counts[sample["id"]] = counts.get(sample["id"], 0) + 1
            if sample.get("az"):
                az_counts[sample["az"]] = az_counts.get(sample["az"], 0) + 1
        else:
            errors[sample["error"]] = errors.get(sample["error"], 0) + 1
            if len(error_samples) < max_error_samples:
                error_samples.append({"kind": sample["error"], "detail": sample.get("detail", "")})
    error_count = sum(errors.values())
    return {
        "requests": len(samples),
        "sent": sent,
        "not_sent": not_sent,
        "succeeded": sent - error_count,
        "failed_requests": error_count,
        "counts": dict(sorted(counts.items())),
        "az_counts": dict(sorted(az_counts.items())),
        "errors": dict(sorted(errors.items())),
        "error_samples": error_samples,
        "error_rate": round(error_count / float(sent), 4) if sent else 0.0,
        "latency_ms": latency_summary(latencies),
        "elapsed": round(elapsed, 3),
        "requests_per_second": round(sent / elapsed, 1) if elapsed > 0 else None,
    }


def _format_p(p_value):
    return f"{p_value:.3g}" if p_value >= 1e-4 else f"{p_value:.1e}"


def evaluate(
    stats,
    expected_ids=None,
    min_distinct=2,
    max_error_rate=0.0,
    min_balance_p_value=0.001,
    min_azs=0,
    expected_count=None,
):
    """Judge the aggregated ``stats``; return a dict of findings with ``passed`` and ``failures``.

    ``expected_ids``: every one must answer and nothing else may. ``expected_count``: the number of
    targets when their IDs cannot be compared with what answers (e.g. ip targets of a target
    group); it raises ``min_distinct``. The balance test runs over the expected IDs plus anything
    that answered, so a silent target counts as a starved one.
    """
    counts = stats["counts"]
    failures = []
    answered = sorted(counts)
    if expected_ids is not None:
        expected = sorted(set(expected_ids))
        missing = [i for i in expected if i not in counts]
        unknown = [i for i in answered if i not in set(expected)]
        categories = sorted(set(expected) | set(answered))
    else:
        expected = None
        missing = []
        unknown = []
        categories = answered
    total_ok = sum(counts.values())

    if stats.get("not_sent"):
        failures.append(
            f"only {stats['sent']} of {stats['requests']} requests were sent before the time budget ran out"
        )
    if total_ok == 0:
        failures.append("no request got an answer that names an instance or task")
    wanted_distinct = max(min_distinct, expected_count or 0)
    if len(answered) < wanted_distinct:
        failures.append(
            f"only {len(answered)} distinct ID(s) answered ({', '.join(answered) or 'none'}), "
            f"at least {wanted_distinct} required"
        )
    if missing:
        failures.append(f"expected ID(s) never answered: {', '.join(missing)}")
    if unknown:
        failures.append(f"unexpected ID(s) answered: {', '.join(unknown)}")
    if stats["sent"] and stats["error_rate"] > max_error_rate:
        kinds = ", ".join(f"{kind} x{n}" for kind, n in stats["errors"].items())
        failures.append(
            f"error rate {stats['error_rate'] * 100:.1f}% ({stats['failed_requests']} of {stats['sent']}: {kinds}) "
            f"is above the allowed {max_error_rate * 100:.1f}%"
        )

    balance = chi_square_uniform([counts.get(i, 0) for i in categories]) if total_ok else None
    if balance is not None:
        balance["threshold"] = min_balance_p_value
        balance["passed"] = balance["p_value"] >= min_balance_p_value
        if not balance["passed"]:
            fair = total_ok / float(len(categories))
            worst = max(categories, key=lambda i: abs(counts.get(i, 0) - fair))
            worst_count = counts.get(worst, 0)
            state = "starved" if worst_count < fair else "overloaded"
            failures.append(
                f"uneven spread: {worst} got {worst_count} of {total_ok} answers against a fair share of "
                f"{fair:.1f} ({state}); chi-square p-value {_format_p(balance['p_value'])} "
                f"is below {min_balance_p_value}"
            )

    az_count = len(stats["az_counts"])
    if min_azs and az_count < min_azs:
        failures.append(
            f"answers came from {az_count} Availability Zone(s) "
            f"({', '.join(stats['az_counts']) or 'none reported'}), at least {min_azs} required"
        )

    shares = []
    fair_share = 1.0 / len(categories) if categories else 0.0
    for ident in categories:
        count = counts.get(ident, 0)
        share = count / float(total_ok) if total_ok else 0.0
        shares.append(
            {
                "id": ident,
                "count": count,
                "share": round(share, 4),
                "fair_share": round(fair_share, 4),
                "deviation": round((share - fair_share) / fair_share, 4) if fair_share else 0.0,
            }
        )
    return {
        "passed": not failures,
        "failures": failures,
        "expected_ids": expected,
        "missing_ids": missing,
        "unknown_ids": unknown,
        "distinct": len(answered),
        "balance": balance,
        "shares": shares,
    }


def summary_lines(shares, az_counts=None, width=30):
    """One line per ID: count, share, fair share and a bar of ``#`` scaled to the largest count."""
    if not shares:
        return ["no ID answered"]
    top = max(entry["count"] for entry in shares) or 1
    id_width = max(len(entry["id"]) for entry in shares)
    count_width = len(str(top))
    lines = []
    for entry in shares:
        bar_text = "#" * int(round(width * entry["count"] / float(top)))
        lines.append(
            f"{entry['id']:<{id_width}} {entry['count']:>{count_width}} {entry['share'] * 100:5.1f}% "
            f"(fair {entry['fair_share'] * 100:.1f}%) {bar_text}"
        )
    if az_counts:
        lines.append("AZs: " + ", ".join(f"{az} {n}" for az, n in az_counts.items()))
    return lines
