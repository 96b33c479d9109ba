"""/instance against loopback stand-ins for IMDSv2 and ECS task metadata v4; read once, cached."""

from __future__ import annotations

import socket
import time

import standins
from conftest import free_port, gunicorn, http_get

JSON = {"Accept": "application/json"}


def test_imds_v2_token_enforced_and_read_once(make_app):
    with standins.imds(free_port()) as server:
        # The stand-in really enforces IMDSv2: no token, no answer.
        assert http_get(server.url + "/latest/meta-data/instance-id")[0] == 401
        server.calls.clear()

        client = make_app(environ={"TASKMANAGER_IMDS": "auto", "TASKMANAGER_IMDS_URL": server.url}).test_client()
        for _attempt in range(10):
            body = client.get("/instance", headers=JSON).get_json()
            text = client.get("/instance").get_data(as_text=True)
        assert body == {
            "instance_id": "i-0123456789abcdef0",
            "availability_zone": "eu-north-1b",
            "kind": "ec2",
            "hostname": socket.gethostname(),
        }
        assert text == "Du er koblet til instans: i-0123456789abcdef0\n"
        assert server.calls == {
            ("PUT", "/latest/api/token"): 1,
            ("GET", "/latest/meta-data/instance-id"): 1,
            ("GET", "/latest/meta-data/placement/availability-zone"): 1,
        }


def test_ecs_task_metadata_v4(make_app):
    with standins.ecs(free_port()) as server:
        client = make_app(environ={"ECS_CONTAINER_METADATA_URI_V4": server.url + "/v4/abc"}).test_client()
        for _attempt in range(5):
            body = client.get("/instance?format=json").get_json()
        assert body["instance_id"] == "5f1c0e9d8b7a4c3e9f2a1b0c9d8e7f6a"
        assert body["availability_zone"] == "eu-north-1c"
        assert body["kind"] == "ecs"
        assert server.calls == {("GET", "/v4/abc/task"): 1}


def test_env_identity_wins_over_metadata(make_app):
    with standins.imds(free_port()) as server:
        environ = {
            "TASKMANAGER_INSTANCE_ID": "i-local-a",
            "TASKMANAGER_AZ": "local-1a",
            "TASKMANAGER_IMDS_URL": server.url,
        }
        body = make_app(environ=environ).test_client().get("/instance", headers=JSON).get_json()
        assert (body["instance_id"], body["availability_zone"], body["kind"]) == ("i-local-a", "local-1a", "local")
        assert sum(server.calls.values()) == 0


def test_nothing_configured_is_local_hostname(make_app):
    body = make_app().test_client().get("/instance", headers=JSON).get_json()
    assert body == {
        "instance_id": socket.gethostname(),
        "availability_zone": None,
        "kind": "local",
        "hostname": socket.gethostname(),
    }


def test_unreachable_metadata_falls_back_quickly(make_app):
    closed = free_port()  # nothing listens here
    client = make_app(environ={"TASKMANAGER_IMDS_URL": f"http://127.0.0.1:{closed}"}).test_client()
    started = time.monotonic()
    body = client.get("/instance", headers=JSON).get_json()
    assert body["kind"] == "local"
    assert time.monotonic() - started < 3


def test_plain_text_is_the_default(make_app):
    client = make_app(environ={"TASKMANAGER_INSTANCE_ID": "i-x"}).test_client()
    for accept in ("*/*", "text/html,application/xhtml+xml,*/*;q=0.8", "text/plain"):
        response = client.get("/instance", headers={"Accept": accept})
        assert response.mimetype == "text/plain"
        assert response.get_data(as_text=True) == "Du er koblet til instans: i-x\n"


def test_gunicorn_workers_each_read_imds_once(tmp_path):
    with standins.imds(free_port(), instance_id="i-0feedfacecafe0001") as server:
        with gunicorn(tmp_path, {"TASKMANAGER_IMDS": "auto", "TASKMANAGER_IMDS_URL": server.url}, workers=2) as base:
            for _attempt in range(40):
                assert http_get(base + "/instance") == (200, "Du er koblet til instans: i-0feedfacecafe0001\n")
        tokens = server.calls[("PUT", "/latest/api/token")]
        assert 1 <= tokens <= 2  # once per worker process at most, never per request
        assert server.calls[("GET", "/latest/meta-data/instance-id")] == tokens


def test_local_processes_stand_in_for_instances(tmp_path):
    answers = set()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (
        gunicorn(tmp_path / "a", {"TASKMANAGER_INSTANCE_ID": "i-aaa"}, 1) as a,
        gunicorn(tmp_path / "b", {"TASKMANAGER_INSTANCE_ID": "i-bbb"}, 1) as b,
    ):
        for base in (a, b):
            answers.add(http_get(base + "/instance")[1].strip())
    assert answers == {"Du er koblet til instans: i-aaa", "Du er koblet til instans: i-bbb"}


NEGOTIATION = [
    # (query, Accept, JSON?) — what the clients send: the spread probe and the failover / data plane
    # probes (application/json), the spread test's text/plain, curl (*/*), browsers, nothing at all.
    ("", "application/json", True),
    ("", "text/plain", False),
    ("", "*/*", False),
    ("", "", False),
    ("", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", False),
    ("", "application/*", True),
    ("", "application/json;q=0.5, text/plain", False),
    ("", "text/plain;q=0.1, application/json", True),
    ("", "application/json;q=0.5, text/plain;q=0.5", False),
    ("format=json", "text/plain", True),
    ("lang=en&format=json", "", True),
    ("format=jsonx", "", False),
    ("xformat=json", "", False),
]


def test_one_route_one_negotiation(make_app):
    """/instance has one implementation (the WSGI middleware; no Flask view) and one negotiation rule."""
    app = make_app(environ={"TASKMANAGER_INSTANCE_ID": "i-one", "TASKMANAGER_AZ": "eu-north-1a"})
    assert "/instance" not in {rule.rule for rule in app.url_map.iter_rules()}
    client = app.test_client()
    for query, accept, as_json in NEGOTIATION:
        headers = {"Accept": accept} if accept else {}
        response = client.get("/instance" + (f"?{query}" if query else ""), headers=headers)
        assert response.status_code == 200
        assert response.headers["Vary"] == "Accept"
        assert response.headers["X-Frame-Options"] == "DENY"
        if as_json:
            assert response.mimetype == "application/json", (query, accept)
            assert response.get_json() == {
                "instance_id": "i-one",
                "availability_zone": "eu-north-1a",
                "kind": "local",
                "hostname": socket.gethostname(),
            }
        else:
            assert response.mimetype == "text/plain", (query, accept)
            assert response.get_data(as_text=True) == "Du er koblet til instans: i-one\n"


def test_instance_methods(make_app):
    client = make_app(environ={"TASKMANAGER_INSTANCE_ID": "i-fast"}).test_client()
    head = client.head("/instance")
    assert head.status_code == 200 and head.data == b""
    assert int(head.headers["Content-Length"]) == len("Du er koblet til instans: i-fast\n")
    options = client.options("/instance")
    assert options.status_code == 204 and options.headers["Allow"] == "GET, HEAD, OPTIONS"
    for method in ("post", "put", "patch", "delete"):
        refused = getattr(client, method)("/instance")
        assert refused.status_code == 405
        assert refused.headers["Allow"] == "GET, HEAD, OPTIONS"
    # Other paths still reach Flask.
    assert client.get("/instance/").status_code == 404
    assert client.get("/health").status_code == 200


def test_page_footer_names_the_serving_instance_and_zone(make_app):
    client = make_app(environ={"TASKMANAGER_INSTANCE_ID": "i-0footer", "TASKMANAGER_AZ": "eu-north-1b"}).test_client()
    english = client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'data-instance-id="i-0footer"' in english
    assert "Served by instance i-0footer in eu-north-1b" in english
    norsk = client.get("/", headers={"Accept-Language": "nb"}).get_data(as_text=True)
    assert "Svart av instans i-0footer i eu-north-1b" in norsk
