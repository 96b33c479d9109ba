"""JSON API against SQLite and MariaDB: CRUD, pagination, validation, JSON errors."""

from __future__ import annotations

import re

import pytest

from taskmanager_webapp import fastpath


def create(client, **fields):
    body = {"title": "Skriv rapport", **fields}
    response = client.post("/api/tasks", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_crud_round_trip(client):
    created = create(client, description="Kapittel 1–3 ✓ 😀", due_date="2026-12-24")
    assert created["status"] == "todo"
    assert created["due_date"] == "2026-12-24"
    assert created["created_at"].endswith("Z")
    task_id = created["id"]

    fetched = client.get(f"/api/tasks/{task_id}").get_json()
    assert fetched["description"] == "Kapittel 1–3 ✓ 😀"

    patched = client.patch(f"/api/tasks/{task_id}", json={"status": "in_progress"}).get_json()
    assert patched["status"] == "in_progress"
    assert patched["title"] == "Skriv rapport"

    replaced = client.put(f"/api/tasks/{task_id}", json={"title": "Ny tittel"})
    assert replaced.status_code == 200
    body = replaced.get_json()
    # PUT replaces: omitted fields go back to their defaults.
    assert (body["title"], body["status"], body["due_date"], body["description"]) == ("Ny tittel", "todo", None, "")

    assert client.delete(f"/api/tasks/{task_id}").status_code == 204
    gone = client.get(f"/api/tasks/{task_id}")
    assert gone.status_code == 404
    assert gone.get_json()["error"] == "not_found"


def test_location_header_points_at_the_task(client):
    response = client.post("/api/tasks", json={"title": "x"})
    assert client.get(response.headers["Location"]).get_json()["id"] == response.get_json()["id"]


def test_pagination_and_status_filter(client):
    for number in range(25):
        create(client, title=f"task {number}", status="done" if number % 5 == 0 else "todo")
    first = client.get("/api/tasks?per_page=10").get_json()
    assert (first["total"], first["pages"], first["page"], len(first["items"])) == (25, 3, 1, 10)
    assert first["items"][0]["title"] == "task 24"  # newest first
    last = client.get("/api/tasks?per_page=10&page=3").get_json()
    assert len(last["items"]) == 5
    ids = {t["id"] for t in first["items"]} | {t["id"] for t in last["items"]}
    assert len(ids) == 15
    done = client.get("/api/tasks?status=done&per_page=100").get_json()
    assert done["total"] == 5
    assert {t["status"] for t in done["items"]} == {"done"}
    assert client.get("/api/tasks?page=99").get_json()["items"] == []


@pytest.mark.parametrize(
    "query, field",
    [("per_page=0", "per_page"), ("per_page=101", "per_page"), ("page=abc", "page"), ("status=closed", "status")],
)
def test_bad_query_is_400_per_field(client, query, field):
    response = client.get(f"/api/tasks?{query}")
    assert response.status_code == 400
    assert field in response.get_json()["fields"]


def test_validation_errors_name_every_field(client):
    response = client.post(
        "/api/tasks",
        json={"title": " ", "status": "closed", "due_date": "24.12.2026", "owner": "me", "description": 5},
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "validation_error"
    fields = body["fields"]
    assert set(fields) == {"title", "status", "due_date", "owner", "description"}
    assert fields["title"] == ["This field is required."]
    assert "YYYY-MM-DD" in fields["due_date"][0]


def test_validation_messages_in_bokmal_by_default(client):
    fields = client.post("/api/tasks", json={}).get_json()["fields"]
    assert fields == {"title": ["Feltet må fylles ut."]}


@pytest.mark.parametrize(
    "body",
    [
        {"title": "x" * 201},
        {"title": "null\x00byte"},
        {"title": "ok", "description": "d" * 5001},
        {"title": "ok", "due_date": "2026-02-30"},
        {"title": "ok", "due_date": "0999-01-01"},
        {"title": ["list"]},
        ["not", "an", "object"],
    ],
)
def test_rejected_bodies(client, body):
    assert client.post("/api/tasks", json=body).status_code == 400


def test_title_at_the_limit_is_stored_whole(client):
    title = "æ" * 200
    assert create(client, title=title)["title"] == title


def test_non_json_body_is_415(client):
    response = client.post("/api/tasks", data="title=x", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert response.get_json()["error"] == "unsupported_media_type"


def test_malformed_json_is_400(client):
    response = client.post("/api/tasks", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert "body" in response.get_json()["fields"]


def test_unknown_route_and_method_are_json(client):
    missing = client.get("/api/nothing-here")
    assert missing.status_code == 404 and missing.is_json
    wrong = client.post("/api/tasks/1/attachments/2")
    assert wrong.status_code == 405 and wrong.is_json
    huge_id = client.get("/api/tasks/99999999999999999999")
    assert huge_id.status_code == 404 and huge_id.is_json


def test_patch_of_missing_task_is_404(client):
    assert client.patch("/api/tasks/424242", json={"status": "done"}).status_code == 404
    assert client.delete("/api/tasks/424242").status_code == 404


def test_openapi_lists_every_api_route(app, client):
    spec = client.get("/openapi.json").get_json()
    documented = {
        path.replace("{task_id}", "<task_id>").replace("{attachment_id}", "<attachment_id>") for path in spec["paths"]
    }
    routes = {
        re.sub(r"<[^:>]+:([^>]+)>", r"<\1>", rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/")
    }
    assert routes <= documented
    for path, item in spec["paths"].items():
        flask_path = path.replace("{task_id}", "<task_id>").replace("{attachment_id}", "<attachment_id>")
        rules = [r for r in app.url_map.iter_rules() if re.sub(r"<[^:>]+:([^>]+)>", r"<\1>", r.rule) == flask_path]
        methods = {m for r in rules for m in r.methods}
        if path == fastpath.PATH:  # not a Flask view: the WSGI middleware answers /instance
            methods = set(fastpath.ALLOW.split(", "))
        assert {k for k in item if k != "parameters"} == {m.lower() for m in methods} - {"head", "options"}, path


def test_update_racing_a_delete_is_404_not_500(client, delete_midrequest):
    task_id = create(client, title="racing")["id"]
    delete_midrequest.arm("get_task")
    response = client.patch(f"/api/tasks/{task_id}", json={"title": "n", "due_date": "2000-01-01"})
    assert response.status_code == 404 and response.is_json
    assert delete_midrequest.deleted == [task_id]
    assert client.get(f"/api/tasks/{task_id}").status_code == 404
    assert client.get("/api/tasks").status_code == 200  # the session is usable after the rollback


@pytest.mark.parametrize("write", ["create_task", "update_task"])
def test_write_answers_what_it_wrote_when_a_delete_follows(client, delete_midrequest, write):
    task_id = create(client, title="first")["id"]
    delete_midrequest.arm(write)
    if write == "create_task":
        response = client.post("/api/tasks", json={"title": "second", "due_date": "2000-01-01"})
        assert response.status_code == 201, response.get_json()
    else:
        response = client.patch(f"/api/tasks/{task_id}", json={"title": "second", "due_date": "2000-01-01"})
        assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["title"], body["due_date"], body["attachment_count"]) == ("second", "2000-01-01", 0)
    assert delete_midrequest.deleted == [body["id"]]
    assert client.get(f"/api/tasks/{body['id']}").status_code == 404


def test_a_row_deleted_under_an_expired_object_is_404(client, delete_midrequest):
    """The last-resort handler: an expired object whose row is gone raises ObjectDeletedError on use."""
    task_id = create(client, title="stale")["id"]
    delete_midrequest.arm("get_task", expire=True)
    response = client.get(f"/api/tasks/{task_id}")
    assert response.status_code == 404 and response.is_json
    assert delete_midrequest.deleted == [task_id]
    assert client.get("/api/tasks").get_json()["total"] == 0
