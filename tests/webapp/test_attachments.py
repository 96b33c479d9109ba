"""Attachments: local folder and S3 (moto in-process, no network), size limit, type allowlist."""

from __future__ import annotations

import io

import boto3
import pytest
from conftest import csrf_token
from moto import mock_aws

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def upload(client, task_id, data=PNG, filename="bilde.png", content_type="image/png"):
    return client.post(
        f"/api/tasks/{task_id}/attachments",
        data={"file": (io.BytesIO(data), filename, content_type)},
        content_type="multipart/form-data",
    )


@pytest.fixture
def task_id(client):
    return client.post("/api/tasks", json={"title": "med vedlegg"}).get_json()["id"]


def test_local_upload_download_delete(app, client, task_id):
    response = upload(client, task_id, filename="../../etc/passwd.png")
    assert response.status_code == 201, response.get_json()
    attachment = response.get_json()
    assert attachment["filename"] == "etc_passwd.png"
    assert attachment["size"] == len(PNG)
    stored = list((app.config["UPLOAD_DIR"]).rglob("*"))
    assert any(p.is_file() and p.read_bytes() == PNG for p in stored)

    download = client.get(f"/api/tasks/{task_id}/attachments/{attachment['id']}")
    assert download.data == PNG
    assert download.mimetype == "image/png"
    assert download.headers["Content-Disposition"] == 'attachment; filename="etc_passwd.png"'
    assert client.get(f"/api/tasks/{task_id}").get_json()["attachment_count"] == 1
    assert client.get(f"/api/tasks/{task_id}/attachments").get_json()["items"][0]["id"] == attachment["id"]

    assert client.delete(f"/api/tasks/{task_id}/attachments/{attachment['id']}").status_code == 204
    assert not any(p.is_file() for p in app.config["UPLOAD_DIR"].rglob("*"))


def test_deleting_a_task_deletes_its_files(app, client, task_id):
    upload(client, task_id)
    upload(client, task_id, data=b"hei\n", filename="notat.txt", content_type="text/plain")
    assert len([p for p in app.config["UPLOAD_DIR"].rglob("*") if p.is_file()]) == 2
    assert client.delete(f"/api/tasks/{task_id}").status_code == 204
    assert not [p for p in app.config["UPLOAD_DIR"].rglob("*") if p.is_file()]


@pytest.mark.parametrize(
    "data, content_type, status",
    [
        (b"MZ\x90\x00", "application/x-msdownload", 415),
        (b"<html><script>x</script>", "text/html", 415),
        (b"not a png at all", "image/png", 400),
        (b"\xff\xfe\x00bin", "text/plain", 400),
    ],
)
def test_type_allowlist_and_content_check(client, task_id, data, content_type, status):
    response = upload(client, task_id, data=data, filename="f", content_type=content_type)
    assert response.status_code == status
    assert "file" in response.get_json()["fields"]


def test_size_limit(make_app):
    app = make_app(MAX_UPLOAD_BYTES=1000)
    client = app.test_client()
    task_id = client.post("/api/tasks", json={"title": "t"}).get_json()["id"]
    assert upload(client, task_id, data=PNG + b"\x00" * 2000).status_code == 413
    assert upload(client, task_id, data=PNG).status_code == 201


def test_missing_file_and_wrong_media_type(client, task_id):
    assert (
        client.post(f"/api/tasks/{task_id}/attachments", data={}, content_type="multipart/form-data").status_code == 400
    )
    assert client.post(f"/api/tasks/{task_id}/attachments", json={"file": "x"}).status_code == 415
    assert upload(client, 999999).status_code == 404


def test_html_upload_form(client, task_id):
    token = csrf_token(client, f"/tasks/{task_id}")
    response = client.post(
        f"/tasks/{task_id}/attachments",
        data={"csrf_token": token, "file": (io.BytesIO(b"%PDF-1.4 ..."), "plan.pdf", "application/pdf")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    assert "plan.pdf" in client.get(f"/tasks/{task_id}").get_data(as_text=True)


def test_s3_storage(make_app, monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-north-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-north-1")
        s3.create_bucket(Bucket="tm-files", CreateBucketConfiguration={"LocationConstraint": "eu-north-1"})
        client = make_app(S3_BUCKET="tm-files", S3_PREFIX="att/").test_client()
        task_id = client.post("/api/tasks", json={"title": "s3"}).get_json()["id"]
        attachment = upload(client, task_id).get_json()
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="tm-files")["Contents"]]
        assert len(keys) == 1 and keys[0].startswith(f"att/tasks/{task_id}/")
        head = s3.head_object(Bucket="tm-files", Key=keys[0])
        assert head["ContentType"] == "image/png"
        assert head["ServerSideEncryption"] == "AES256"
        assert client.get(f"/api/tasks/{task_id}/attachments/{attachment['id']}").data == PNG
        s3.delete_object(Bucket="tm-files", Key=keys[0])  # another worker's delete, between row and bytes
        gone = client.get(f"/api/tasks/{task_id}/attachments/{attachment['id']}")
        assert gone.status_code == 404 and gone.is_json
        client.delete(f"/api/tasks/{task_id}")
        assert s3.list_objects_v2(Bucket="tm-files").get("KeyCount") == 0


def test_upload_racing_a_delete_is_404_and_keeps_no_file(app, client, task_id, delete_midrequest):
    delete_midrequest.arm("get_task")
    response = upload(client, task_id)
    assert response.status_code == 404 and response.is_json
    assert delete_midrequest.deleted == [task_id]
    uploads = app.config["UPLOAD_DIR"]
    stored = [p for p in uploads.rglob("*") if p.is_file()] if uploads.exists() else []
    assert stored == []


def test_download_of_bytes_deleted_meanwhile_is_404(app, client, task_id):
    attachment = upload(client, task_id).get_json()
    for stored in [p for p in app.config["UPLOAD_DIR"].rglob("*") if p.is_file()]:
        stored.unlink()  # another worker's delete, between this request's row read and its file read
    api = client.get(f"/api/tasks/{task_id}/attachments/{attachment['id']}")
    assert api.status_code == 404 and api.is_json
    assert client.get(f"/tasks/{task_id}/attachments/{attachment['id']}").status_code == 404
