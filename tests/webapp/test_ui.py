"""HTML UI: CSRF, autoescaping, security headers, languages, the create / done / filter flow."""

from __future__ import annotations

from conftest import csrf_token


def test_form_post_without_csrf_token_is_refused(client):
    response = client.post("/tasks/new", data={"title": "x", "status": "todo"})
    assert response.status_code == 400
    assert client.get("/api/tasks").get_json()["total"] == 0


def test_create_mark_done_and_filter(client):
    token = csrf_token(client)
    response = client.post("/tasks/new", data={"csrf_token": token, "title": "Handle melk", "status": "todo"})
    assert response.status_code == 302
    task = client.get("/api/tasks").get_json()["items"][0]
    assert client.post(f"/tasks/{task['id']}/done", data={"csrf_token": token}).status_code == 302
    assert client.get(f"/api/tasks/{task['id']}").get_json()["status"] == "done"
    assert "Handle melk" in client.get("/?status=done").get_data(as_text=True)
    assert "Handle melk" not in client.get("/?status=todo").get_data(as_text=True)


def test_edit_and_delete(client):
    token = csrf_token(client)
    client.post("/tasks/new", data={"csrf_token": token, "title": "Før", "status": "todo"})
    task_id = client.get("/api/tasks").get_json()["items"][0]["id"]
    response = client.post(
        f"/tasks/{task_id}/edit",
        data={
            "csrf_token": token,
            "title": "Etter",
            "status": "in_progress",
            "due_date": "2027-01-02",
            "description": "",
        },
    )
    assert response.status_code == 302
    assert client.get(f"/api/tasks/{task_id}").get_json()["title"] == "Etter"
    assert client.post(f"/tasks/{task_id}/delete", data={"csrf_token": token}).status_code == 302
    assert client.get(f"/api/tasks/{task_id}").status_code == 404


def test_invalid_form_shows_messages(client):
    token = csrf_token(client)
    response = client.post("/tasks/new", data={"csrf_token": token, "title": "", "status": "todo", "due_date": "x"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Feltet må fylles ut." in page
    assert "ÅÅÅÅ-MM-DD" in page


def test_titles_are_autoescaped(client):
    client.post("/api/tasks", json={"title": "<script>alert(1)</script>"})
    page = client.get("/").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_security_headers(client):
    for path in ("/", "/api/tasks", "/health"):
        headers = client.get(path).headers
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert "script-src 'self'" in headers["Content-Security-Policy"]


def test_language_from_accept_language_setting_and_cookie(make_app):
    client = make_app().test_client()
    assert "Oppgavestyring" in client.get("/").get_data(as_text=True)
    assert "Task manager" in client.get("/", headers={"Accept-Language": "en-GB,en;q=0.9"}).get_data(as_text=True)
    assert "Oppgavestyring" in client.get("/", headers={"Accept-Language": "nn-NO, en;q=0.5"}).get_data(as_text=True)
    client.get("/lang/en")
    assert "Task manager" in client.get("/").get_data(as_text=True)
    english = make_app(LANGUAGE="en").test_client()
    assert '<html lang="en">' in english.get("/").get_data(as_text=True)


def test_html_404_page(client):
    response = client.get("/tasks/987654")
    assert response.status_code == 404
    assert "text/html" in response.content_type


def test_request_size_limit(make_app):
    client = make_app(MAX_CONTENT_LENGTH=1024).test_client()
    response = client.post("/api/tasks", json={"title": "x", "description": "y" * 4000})
    assert response.status_code == 413
    assert response.is_json
