# Copyright: Contributors to the taskmanager.aws project
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the pure logic of instance_spread: parsing, statistics, verdict, summary, probe loop."""

import contextlib
import json
import math
import random
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.error import HTTPError, URLError

import pytest

from ansible_collections.taskmanager.aws.plugins.module_utils import spread_probe, spread_stats, spread_verdict

IDS = ["i-0aaaaaaaaaaaaaaa1", "i-0bbbbbbbbbbbbbbb2", "i-0ccccccccccccccc3"]
TASK_ID = "0123456789abcdef0123456789abcdef"


# ----------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    "body, expected",
    [
        (
            '{"instance_id": "i-0123456789abcdef0", "availability_zone": "eu-north-1a"}',
            ("i-0123456789abcdef0", "eu-north-1a"),
        ),
        ('{"instance_id": "i-01234567"}', ("i-01234567", None)),
        (f'{{"task_id": "{TASK_ID}", "availability_zone": "eu-north-1b"}}', (TASK_ID, "eu-north-1b")),
        (f'{{"task_arn": "arn:aws:ecs:eu-north-1:123456789012:task/c/{TASK_ID}"}}', (TASK_ID, None)),
        ("Du er koblet til instans: i-0123456789abcdef0", ("i-0123456789abcdef0", None)),
        ("Du er koblet til instans: i-0123456789abcdef0 (eu-north-1c)\n", ("i-0123456789abcdef0", "eu-north-1c")),
        (f"<p>Du er koblet til instans: {TASK_ID}</p>", (TASK_ID, None)),
        (b"Du er koblet til instans: i-0123456789abcdef0", ("i-0123456789abcdef0", None)),
    ],
)
def test_extract_identity_default(body, expected):
    assert spread_probe.extract_identity(body) == expected


@pytest.mark.parametrize(
    "body",
    [
        "Du er koblet til instans: i-fake",  # moto's metadata placeholder is not an instance ID
        "Du er koblet til instans: i-0123",  # too short
        "i-0123456789abcdef0123",  # longer hex run is not an ID
        "",
        "<html>502 Bad Gateway</html>",
        '{"status": "ok"}',
    ],
)
def test_extract_identity_rejects(body):
    with pytest.raises(spread_probe.ParseError):
        spread_probe.extract_identity(body)


def test_extract_identity_id_field_path_and_az_field():
    body = json.dumps({"meta": {"host": {"name": "web-7"}}, "zone": {"name": "eu-north-1b"}})
    assert spread_probe.extract_identity(body, id_field="meta.host.name", az_field="zone.name") == (
        "web-7",
        "eu-north-1b",
    )
    body = json.dumps({"hosts": [{"id": "a"}, {"id": "b"}]})
    assert spread_probe.extract_identity(body, id_field="hosts.1.id") == ("b", None)


def test_extract_identity_id_field_missing_or_not_json():
    with pytest.raises(spread_probe.ParseError, match="no field 'host'"):
        spread_probe.extract_identity('{"instance_id": "i-0123456789abcdef0"}', id_field="host")
    with pytest.raises(spread_probe.ParseError, match="not a JSON object"):
        spread_probe.extract_identity("Du er koblet til instans: i-0123456789abcdef0", id_field="instance_id")
    with pytest.raises(spread_probe.ParseError, match="holds no ID"):
        spread_probe.extract_identity('{"host": {"a": 1}}', id_field="host")


def test_extract_identity_custom_regex_groups():
    regex = r"served by (?P<id>[a-z0-9-]+) in (?P<az>[a-z0-9-]+)"
    assert spread_probe.extract_identity("served by web-2 in zone-b", id_regex=regex) == ("web-2", "zone-b")
    assert spread_probe.extract_identity("node=n3;", id_regex=r"node=(\w+);") == ("n3", None)
    assert spread_probe.extract_identity("node n3", id_regex=r"n\d") == ("n3", None)


def test_compile_id_regex_error_is_readable():
    with pytest.raises(ValueError, match="not a valid regular expression"):
        spread_probe.compile_id_regex("(unclosed")


# ----------------------------------------------------------------------------- statistics


def test_percentile_interpolates():
    values = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    assert spread_stats.percentile(values, 50) == pytest.approx(5.5)
    assert spread_stats.percentile(values, 0) == 1
    assert spread_stats.percentile(values, 100) == 10
    assert spread_stats.percentile(values, 95) == pytest.approx(9.55)
    assert spread_stats.percentile([], 50) is None
    assert spread_stats.percentile([7], 99) == 7


def test_latency_summary_in_ms():
    result = spread_stats.latency_summary([0.001 * i for i in range(1, 101)])
    assert result["p50"] == pytest.approx(50.5)
    assert result["p99"] == pytest.approx(99.0, abs=0.1)
    assert result["max"] == 100.0
    assert spread_stats.latency_summary([])["p95"] is None


# Critical values from the chi-square table (upper-tail probability, df, x).
CHI2_TABLE = [
    (0.05, 1, 3.841),
    (0.01, 1, 6.635),
    (0.001, 1, 10.828),
    (0.05, 2, 5.991),
    (0.01, 2, 9.210),
    (0.001, 2, 13.816),
    (0.10, 5, 9.236),
    (0.001, 5, 20.515),
    (0.05, 10, 18.307),
    (0.01, 30, 50.892),
    (0.95, 4, 0.711),
    (0.50, 3, 2.366),
]


@pytest.mark.parametrize("p, df, x", CHI2_TABLE)
def test_chi2_sf_matches_table(p, df, x):
    assert spread_stats.chi2_sf(x, df) == pytest.approx(p, rel=2e-3)


@pytest.mark.parametrize("x", [0.01, 0.5, 1.0, 2.0, 5.0, 20.0, 80.0])
def test_gammaincc_closed_forms(x):
    # Q(1, x) = exp(-x); Q(1/2, x) = erfc(sqrt(x)); Q(2, x) = (1 + x) exp(-x)
    assert spread_stats.gammaincc(1.0, x) == pytest.approx(math.exp(-x), rel=1e-10)
    assert spread_stats.gammaincc(0.5, x) == pytest.approx(math.erfc(math.sqrt(x)), rel=1e-8, abs=1e-300)
    assert spread_stats.gammaincc(2.0, x) == pytest.approx((1 + x) * math.exp(-x), rel=1e-10)


def test_gammaincc_edges():
    assert spread_stats.gammaincc(3.0, 0.0) == 1.0
    assert spread_stats.chi2_sf(0.0, 2) == 1.0
    assert spread_stats.chi2_sf(10000.0, 2) == pytest.approx(0.0, abs=1e-300)
    with pytest.raises(ValueError):
        spread_stats.gammaincc(0.0, 1.0)
    with pytest.raises(ValueError):
        spread_stats.chi2_sf(1.0, 0)


def test_chi_square_uniform():
    assert spread_stats.chi_square_uniform([50, 50]) == {"statistic": 0.0, "df": 1, "p_value": 1.0}
    result = spread_stats.chi_square_uniform([60, 40])  # statistic 4.0, df 1 -> p = 0.0455
    assert result["statistic"] == 4.0
    assert result["p_value"] == pytest.approx(0.0455, abs=1e-4)
    assert spread_stats.chi_square_uniform([10]) is None
    assert spread_stats.chi_square_uniform([0, 0]) is None


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "exc, kind",
    [
        (HTTPError("http://x", 500, "Internal Server Error", {}, None), "http_500"),
        (HTTPError("http://x", 503, "Service Unavailable", {}, None), "http_503"),
        (URLError(TimeoutError("timed out")), "timeout"),
        (TimeoutError("timed out"), "timeout"),
        (TimeoutError(), "timeout"),
        (URLError(ConnectionRefusedError(111, "Connection refused")), "connection_refused"),
        (ConnectionResetError(104, "Connection reset by peer"), "connection_reset"),
        (URLError("[Errno -2] Name or service not known"), "dns"),
        (spread_probe.ParseError("no ID"), "unparseable"),
        (spread_probe.DeadlineExceeded("late"), "timeout"),
        (ValueError("weird"), "other"),
    ],
)
def test_classify_exception(exc, kind):
    assert spread_probe.classify_exception(exc) == kind


# ----------------------------------------------------------------------------- aggregate / verdict


def ok(ident, az=None, latency=0.01):
    return {"ok": True, "sent": True, "id": ident, "az": az, "status": 200, "latency": latency}


def err(kind, latency=0.01):
    return {"ok": False, "sent": True, "error": kind, "detail": kind, "latency": latency}


def stats_for(counts, errors=None, not_sent=0, azs=None):
    samples = []
    for ident, n in counts.items():
        samples += [ok(ident, (azs or {}).get(ident)) for _sample in range(n)]
    for kind, n in (errors or {}).items():
        samples += [err(kind) for _sample in range(n)]
    samples += [{"ok": False, "sent": False, "latency": None, "error": "not_sent"} for _sample in range(not_sent)]
    return spread_stats.aggregate(samples, 1.0)


def test_aggregate_counts_errors_and_samples():
    stats = stats_for({IDS[0]: 3, IDS[1]: 2}, errors={"http_500": 4, "timeout": 1}, not_sent=2)
    assert stats["requests"] == 12
    assert stats["sent"] == 10
    assert stats["not_sent"] == 2
    assert stats["succeeded"] == 5
    assert stats["counts"] == {IDS[0]: 3, IDS[1]: 2}
    assert stats["errors"] == {"http_500": 4, "timeout": 1}
    assert stats["error_rate"] == 0.5
    assert len(stats["error_samples"]) == 5
    assert stats["requests_per_second"] == 10.0


def test_verdict_even_spread_passes():
    verdict = spread_verdict.evaluate(stats_for({IDS[0]: 34, IDS[1]: 33, IDS[2]: 33}), expected_ids=IDS)
    assert verdict["passed"], verdict["failures"]
    assert verdict["balance"]["p_value"] > 0.9
    assert [s["fair_share"] for s in verdict["shares"]] == [0.3333] * 3


def test_verdict_random_noise_passes_with_fixed_seed():
    rng = random.Random(20261123)  # noqa: S311 (statistical noise, not secrets)
    counts = {i: 0 for i in IDS}
    for _draw in range(300):
        counts[rng.choice(IDS)] += 1
    verdict = spread_verdict.evaluate(stats_for(counts), expected_ids=IDS)
    assert verdict["passed"], verdict["failures"]


def test_balance_false_alarm_rate_is_near_threshold():
    # Under a truly even random spread the p-value is (about) uniform: with the default threshold
    # 0.001, 500 fixed-seed runs should give (almost) no failures.
    failures = 0
    for seed in range(500):
        rng = random.Random(seed)  # noqa: S311 (statistical noise, not secrets)
        counts = {i: 0 for i in IDS}
        for _draw in range(100):
            counts[rng.choice(IDS)] += 1
        if not spread_verdict.evaluate(stats_for(counts), expected_ids=IDS)["balance"]["passed"]:
            failures += 1
    assert failures <= 3


def test_verdict_starved_target_fails():
    verdict = spread_verdict.evaluate(stats_for({IDS[0]: 45, IDS[1]: 45, IDS[2]: 10}), expected_ids=IDS)
    assert not verdict["passed"]
    assert any("uneven spread" in f and IDS[2] in f and "starved" in f for f in verdict["failures"])


def test_verdict_overloaded_target_fails():
    verdict = spread_verdict.evaluate(stats_for({IDS[0]: 72, IDS[1]: 14, IDS[2]: 14}))
    assert not verdict["passed"]
    assert any("overloaded" in f and IDS[0] in f for f in verdict["failures"])


def test_verdict_balance_disabled_with_zero_threshold():
    verdict = spread_verdict.evaluate(stats_for({IDS[0]: 72, IDS[1]: 14, IDS[2]: 14}), min_balance_p_value=0.0)
    assert verdict["passed"], verdict["failures"]


def test_verdict_missing_and_unknown_ids():
    verdict = spread_verdict.evaluate(stats_for({IDS[0]: 50, "i-0ddddddddddddddd4": 50}), expected_ids=IDS)
    assert verdict["missing_ids"] == IDS[1:]
    assert verdict["unknown_ids"] == ["i-0ddddddddddddddd4"]
    text = " ".join(verdict["failures"])
    assert f"never answered: {IDS[1]}, {IDS[2]}" in text
    assert "unexpected ID(s) answered: i-0ddddddddddddddd4" in text
    # the silent targets count as starved in the balance test too
    assert len(verdict["shares"]) == 4


def test_verdict_min_distinct_and_expected_count():
    verdict = spread_verdict.evaluate(stats_for({IDS[0]: 100}))
    assert verdict["failures"] == [f"only 1 distinct ID(s) answered ({IDS[0]}), at least 2 required"]
    assert spread_verdict.evaluate(stats_for({IDS[0]: 100}), min_distinct=1)["passed"]
    verdict = spread_verdict.evaluate(stats_for({IDS[0]: 50, IDS[1]: 50}), expected_count=3)
    assert "at least 3 required" in verdict["failures"][0]


def test_verdict_error_rate():
    stats = stats_for({IDS[0]: 49, IDS[1]: 50}, errors={"http_502": 1})
    verdict = spread_verdict.evaluate(stats)
    assert not verdict["passed"]
    assert "error rate 1.0% (1 of 100: http_502 x1) is above the allowed 0.0%" in verdict["failures"][0]
    assert spread_verdict.evaluate(stats, max_error_rate=0.01)["passed"]


def test_verdict_not_sent_and_nothing_answered():
    verdict = spread_verdict.evaluate(stats_for({}, errors={"timeout": 5}, not_sent=5), min_distinct=0)
    text = " ".join(verdict["failures"])
    assert "only 5 of 10 requests were sent" in text
    assert "no request got an answer" in text
    assert verdict["balance"] is None


def test_verdict_min_azs():
    azs = {IDS[0]: "eu-north-1a", IDS[1]: "eu-north-1a", IDS[2]: "eu-north-1b"}
    stats = stats_for({IDS[0]: 33, IDS[1]: 33, IDS[2]: 34}, azs=azs)
    assert stats["az_counts"] == {"eu-north-1a": 66, "eu-north-1b": 34}
    assert spread_verdict.evaluate(stats, min_azs=2)["passed"]
    verdict = spread_verdict.evaluate(stats, min_azs=3)
    assert (
        "answers came from 2 Availability Zone(s) (eu-north-1a, eu-north-1b), at least 3 required"
        in verdict["failures"]
    )


def test_summary_lines():
    stats = stats_for({IDS[0]: 50, IDS[1]: 25}, azs={IDS[0]: "eu-north-1a", IDS[1]: "eu-north-1b"})
    verdict = spread_verdict.evaluate(stats, min_balance_p_value=0.0)
    lines = spread_verdict.summary_lines(verdict["shares"], stats["az_counts"], width=20)
    assert lines[0] == f"{IDS[0]} 50  66.7% (fair 50.0%) " + "#" * 20
    assert lines[1] == f"{IDS[1]} 25  33.3% (fair 50.0%) " + "#" * 10
    assert lines[2] == "AZs: eu-north-1a 50, eu-north-1b 25"
    assert spread_verdict.summary_lines([]) == ["no ID answered"]


# ----------------------------------------------------------------------------- probe loop


def fake_fetch(answers):
    """A fetch that answers from a list of bodies or exceptions, round robin."""
    state = {"n": 0}

    def fetch(url, headers, timeout, deadline):
        index = state["n"] % len(answers)
        state["n"] += 1
        answer = answers[index]
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, float):
            time.sleep(answer)
            raise TimeoutError("timed out")
        return 200, answer.encode()

    return fetch


def test_run_probe_counts_and_errors():
    answers = [f"Du er koblet til instans: {i}" for i in IDS] + [
        HTTPError("http://x", 500, "Internal Server Error", {}, None)
    ]
    samples, elapsed = spread_probe.run_probe(
        "http://x/instance", requests=40, concurrency=4, fetch=fake_fetch(answers)
    )
    stats = spread_stats.aggregate(samples, elapsed)
    assert stats["sent"] == 40
    assert sum(stats["counts"].values()) == 30
    assert stats["errors"] == {"http_500": 10}


def test_run_probe_respects_time_budget():
    # every request takes 0.2 s; 2 workers, 100 requests, budget 0.5 s
    start = time.monotonic()
    samples, elapsed = spread_probe.run_probe(
        "http://x/instance", requests=100, concurrency=2, timeout=1.0, time_budget=0.5, fetch=fake_fetch([0.2])
    )
    # Without the budget the run takes 10 s (100 x 0.2 s over 2 workers); the bound leaves room
    # for a starved machine.
    assert time.monotonic() - start < 5.0
    stats = spread_stats.aggregate(samples, elapsed)
    assert stats["not_sent"] > 80
    assert stats["errors"]["timeout"] >= 2
    verdict = spread_verdict.evaluate(stats)
    assert any("requests were sent before the time budget ran out" in f for f in verdict["failures"])


def test_aggregate_has_no_key_that_ansible_reads_as_task_status():
    # "failed", "changed", "skipped", "unreachable" in a module result change the task's status
    stats = stats_for({IDS[0]: 1}, errors={"http_500": 1})
    assert not {"failed", "changed", "skipped", "unreachable", "rc"} & set(stats)
    assert stats["failed_requests"] == 1


# ----------------------------------------------------------------------------- keep-alive fetch


class CountingServer:
    """A real loopback HTTP server that names the connection each answer came on.

    ``mode``: "keep" (HTTP/1.1, keeps connections), "close" (HTTP/1.0, one request per
    connection), "drop_idle" (HTTP/1.1, but closes every connection without a word after its
    first answer, as a server whose idle timeout ran out), "error_then_ok" (every third request on
    a connection answers 500), "redirect" (/old redirects to /instance).
    """

    def __init__(self, mode):
        self.mode = mode
        self.connections = 0
        self.requests = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0" if mode == "close" else "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def setup(self):
                super().setup()
                with server.lock:
                    server.connections += 1
                    self.connection_no = server.connections
                self.served = 0

            def do_GET(self):  # noqa: N802
                self.served += 1
                with server.lock:
                    server.requests += 1
                if mode == "redirect" and self.path == "/old":
                    self.send_response(302)
                    self.send_header("Location", "/instance")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status = 500 if mode == "error_then_ok" and self.served % 3 == 0 else 200
                body = json.dumps({"instance_id": IDS[self.connection_no % 3], "conn": self.connection_no}).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                if mode == "drop_idle":
                    self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/instance"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(name="counting")
def fixture_counting():
    servers = []

    def start(mode):
        servers.append(CountingServer(mode))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


# These tests check answers, connections and error kinds, not time: the request timeout is generous,
# so that a starved run (make test runs units at idle priority beside other gates) never turns a
# slow answer into a "timeout". The timeout tests below give their own.
GENEROUS_TIMEOUT = 30.0


def probe_stats(url, requests=60, concurrency=3):
    samples, elapsed = spread_probe.run_probe(url, requests=requests, concurrency=concurrency, timeout=GENEROUS_TIMEOUT)
    return spread_stats.aggregate(samples, elapsed)


def test_keep_alive_uses_one_connection_per_worker(counting):
    server = counting("keep")
    stats = probe_stats(server.url)
    assert stats["succeeded"] == 60 and stats["errors"] == {}
    assert server.requests == 60
    assert server.connections <= 3  # one per worker, whatever the scheduling


def test_a_server_that_closes_after_each_answer_costs_no_error(counting):
    server = counting("close")
    stats = probe_stats(server.url)
    assert stats["succeeded"] == 60 and stats["errors"] == {}
    assert server.connections == 60


def test_an_idle_connection_closed_by_the_server_is_reopened_without_error(counting):
    # The server closes each connection after its answer without saying so (no Connection:
    # close); the next request on it finds it closed and goes once more on a new connection.
    server = counting("drop_idle")
    stats = probe_stats(server.url, requests=30, concurrency=2)
    assert stats["succeeded"] == 30 and stats["errors"] == {}
    assert server.requests == 30


def test_an_error_answer_is_counted_and_the_next_request_reconnects(counting):
    server = counting("error_then_ok")
    stats = probe_stats(server.url, requests=30, concurrency=1)
    # Every third request on a connection fails; the connection is dropped after it, so the
    # pattern restarts: ok, ok, 500 on each connection.
    assert stats["errors"] == {"http_500": 10}
    assert stats["succeeded"] == 20
    assert server.connections == 10


def test_redirects_are_followed_on_the_kept_connection(counting):
    server = counting("redirect")
    stats = probe_stats(server.url.replace("/instance", "/old"), requests=20, concurrency=1)
    assert stats["succeeded"] == 20
    assert server.requests == 40 and server.connections == 1


def test_connection_refused_is_still_its_own_kind():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    stats = probe_stats(f"http://127.0.0.1:{port}/instance", requests=6, concurrency=2)
    assert stats["errors"] == {"connection_refused": 6}


def test_new_connection_fetch_opens_one_per_request(counting):
    server = counting("keep")
    fetch = spread_probe.make_http_get(keep_alive=False)
    samples, _elapsed = spread_probe.run_probe(
        server.url, requests=10, concurrency=1, timeout=GENEROUS_TIMEOUT, fetch=fetch
    )
    assert all(sample["ok"] for sample in samples)
    assert server.connections == 10


# ----------------------------------------------------------------------------- the event loop


def test_parse_response_with_a_length_waits_for_the_whole_body():
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n"
    assert spread_probe.parse_response(head + b"01234") is None
    assert spread_probe.parse_response(head + b"0123456789") == (200, "OK", None, b"0123456789", True)
    # cut short by the server: what came is judged, and the connection is not kept
    assert spread_probe.parse_response(head + b"01234", eof=True) == (200, "OK", None, b"01234", False)


def test_parse_response_chunked_split_anywhere():
    answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\n"
    for cut in range(len(answer)):
        assert spread_probe.parse_response(answer[:cut]) is None, cut
    assert spread_probe.parse_response(answer) == (200, "OK", None, b"abcdefg", True)
    trailer = answer[:-2] + b"X-Trailer: 1\r\n\r\n"
    assert spread_probe.parse_response(trailer) == (200, "OK", None, b"abcdefg", True)


def test_parse_response_connection_rules_and_interim_answers():
    close = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"
    assert spread_probe.parse_response(close)[4] is False
    http10 = b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"
    assert spread_probe.parse_response(http10)[4] is False
    http10_kept = b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok"
    assert spread_probe.parse_response(http10_kept)[4] is True
    no_length = b"HTTP/1.1 200 OK\r\n\r\nuntil the end"
    assert spread_probe.parse_response(no_length) is None
    assert spread_probe.parse_response(no_length, eof=True) == (200, "OK", None, b"until the end", False)
    interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n"
    assert spread_probe.parse_response(interim) == (302, "Found", "/x", b"", True)
    big = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 70000
    status, _reason, _location, body, keep = spread_probe.parse_response(big)
    assert status == 200 and len(body) == spread_probe.MAX_BODY_BYTES and keep is False


@pytest.mark.parametrize(
    "data, eof, error",
    [
        (b"SSH-2.0-OpenSSH\r\n\r\n", False, "BadStatusLine"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", False, "BadStatusLine"),
        (b"HTTP/1.1 200 OK\r\nContent-", True, "RemoteDisconnected"),
    ],
)
def test_parse_response_rejects_what_http_client_rejects(data, eof, error):
    with pytest.raises(spread_probe.http.client.HTTPException) as caught:
        spread_probe.parse_response(data, eof)
    assert type(caught.value).__name__ == error


def test_loop_supported_only_for_plain_http_without_proxy(monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    assert spread_probe.loop_supported("http://127.0.0.1:8080/instance?a=1", {"Accept": "application/json"})
    assert not spread_probe.loop_supported("https://127.0.0.1/instance", {})
    assert not spread_probe.loop_supported("http://127.0.0.1/instance", {"X-Bad": "a\r\nInjected: 1"})
    assert not spread_probe.loop_supported("http://127.0.0.1/inst ance", {})
    assert not spread_probe.loop_supported("http://127.0.0.1/instans-\u00e6", {})
    assert not spread_probe.loop_supported("http://127.0.0.1/instance", {"X-Name": "\u20ac"})
    monkeypatch.setenv("http_proxy", "http://proxy.invalid:3128")
    assert not spread_probe.loop_supported("http://203.0.113.10/instance", {})


def test_request_bytes_host_header_and_overrides():
    parts = spread_probe.urlsplit("http://127.0.0.1:8080/instance?a=1")
    data = spread_probe._request_bytes(parts, {"Accept": "application/json", "host": "app.example.com"})
    lines = data.decode().split("\r\n")
    assert lines[0] == "GET /instance?a=1 HTTP/1.1"
    assert "host: app.example.com" in lines and not any(line.startswith("Host:") for line in lines)
    assert "Accept: application/json" in lines and "User-Agent: ansible-httpget" in lines
    assert data.endswith(b"\r\n\r\n")


class RawServer:
    """A loopback TCP server whose every connection is handled by ``handler(conn)`` in a thread."""

    def __init__(self, handler):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/instance"
        self.connections = 0
        self.stopped = threading.Event()
        threading.Thread(target=self._serve, args=(handler,), daemon=True).start()

    def _serve(self, handler):
        while not self.stopped.is_set():
            try:
                conn, _address = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(handler, conn), daemon=True).start()

    def _handle(self, handler, conn):
        with conn, contextlib.suppress(OSError):
            handler(conn, self.stopped)

    def stop(self):
        self.stopped.set()
        self.sock.close()


def read_request(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return None
        data += chunk
    return data


def answer_json(conn, stopped, chunked=False):
    body = json.dumps({"instance_id": IDS[0]}).encode()
    while not stopped.is_set() and read_request(conn):
        if chunked:
            half = len(body) // 2
            conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            conn.sendall(b"%x\r\n%s\r\n" % (half, body[:half]))
            conn.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body) - half, body[half:]))
        else:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))


def hang(conn, stopped):
    read_request(conn)
    stopped.wait(10)


def close_without_answer(conn, _stopped):
    read_request(conn)


def close_mid_body(conn, _stopped):
    read_request(conn)
    conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"instance_id"')


def garbage(conn, _stopped):
    read_request(conn)
    conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")


@pytest.fixture(name="raw")
def fixture_raw():
    servers = []

    def start(handler):
        servers.append(RawServer(handler))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def test_chunked_answers_on_kept_connections(raw):
    server = raw(lambda conn, stopped: answer_json(conn, stopped, chunked=True))
    stats = probe_stats(server.url, requests=40, concurrency=4)
    assert stats["counts"] == {IDS[0]: 40} and stats["errors"] == {}
    assert server.connections <= 4


@pytest.mark.parametrize(
    "handler, kind",
    [
        (close_without_answer, "connection_reset"),
        (close_mid_body, "unparseable"),
        (garbage, "other"),
    ],
)
def test_the_loop_and_the_thread_pool_classify_errors_alike(raw, handler, kind):
    server = raw(handler)
    by_loop = probe_stats(server.url, requests=6, concurrency=2)
    samples, elapsed = spread_probe.run_probe(
        server.url, requests=6, concurrency=2, timeout=GENEROUS_TIMEOUT, fetch=spread_probe.KeepAliveFetch()
    )
    by_threads = spread_stats.aggregate(samples, elapsed)
    assert by_loop["errors"] == by_threads["errors"] == {kind: 6}


def test_a_hanging_answer_is_a_timeout_after_timeout_seconds(raw):
    server = raw(hang)
    start = time.monotonic()
    samples, elapsed = spread_probe.run_probe(server.url, requests=4, concurrency=2, timeout=0.3, time_budget=10)
    stats = spread_stats.aggregate(samples, elapsed)
    assert stats["errors"] == {"timeout": 4}
    assert 0.55 <= time.monotonic() - start < 3.0  # two rounds of 0.3 s
    assert server.connections == 4  # a timed-out connection is never reused
    assert all(0.25 <= sample["latency"] < 2.0 for sample in samples)


def test_the_loop_stops_at_the_time_budget(raw):
    server = raw(hang)
    start = time.monotonic()
    samples, elapsed = spread_probe.run_probe(server.url, requests=50, concurrency=3, timeout=5, time_budget=0.5)
    stats = spread_stats.aggregate(samples, elapsed)
    # Without the budget the run takes 10 s (100 x 0.2 s over 2 workers); the bound leaves room
    # for a starved machine.
    assert time.monotonic() - start < 5.0
    assert stats["errors"] == {"timeout": 3}
    assert stats["not_sent"] == 47


def test_redirects_to_another_host_are_followed(counting):
    target = counting("keep")

    class Redirect(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):  # noqa: N802
            self.send_response(307)
            self.send_header("Location", target.url)
            self.send_header("Content-Length", "0")
            self.end_headers()

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/instance"
        stats = probe_stats(url, requests=10, concurrency=2)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert stats["succeeded"] == 10 and stats["errors"] == {}
    assert target.requests == 10
