"""JSON API: /api/tasks CRUD with pagination, and task attachments. Described by /openapi.json."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request, url_for

from . import services
from .extensions import csrf
from .validation import PAGE_MAX, PER_PAGE_MAX, int_arg, status_arg, validate_task

bp = Blueprint("api", __name__, url_prefix="/api")
# The API takes no cookies-based credentials and only accepts JSON bodies (or multipart uploads),
# so cross-site form posts cannot drive it; the HTML forms keep their CSRF tokens.
csrf.exempt(bp)

ID = "int"


def error(status: int, code: str, message: str, fields: dict | None = None):
    body = {"error": code, "message": message}
    if fields is not None:
        body["fields"] = fields
    return jsonify(body), status


def validation_error(fields: dict):
    return error(400, "validation_error", "The request is not valid.", fields)


def not_found():
    return error(404, "not_found", "No such task or attachment.")


def json_body():
    if not request.is_json:
        return None, error(415, "unsupported_media_type", "Send the body as application/json.")
    return request.get_json(silent=True), None


@bp.get("/tasks")
def list_tasks():
    errors: dict = {}
    status = status_arg(request.args, errors)
    page = int_arg(request.args, "page", 1, 1, PAGE_MAX, errors)
    per_page = int_arg(request.args, "per_page", 20, 1, PER_PAGE_MAX, errors)
    if errors:
        return validation_error(errors)
    return jsonify(services.list_tasks(status, page, per_page))


@bp.post("/tasks")
def create_task():
    data, problem = json_body()
    if problem:
        return problem
    clean, errors = validate_task(data)
    if errors:
        return validation_error(errors)
    task = services.create_task(clean)
    response = jsonify(task.to_dict())
    response.status_code = 201
    response.headers["Location"] = url_for("api.get_task", task_id=task.id)
    return response


@bp.get(f"/tasks/<{ID}:task_id>")
def get_task(task_id: int):
    task = services.get_task(task_id)
    return jsonify(task.to_dict()) if task else not_found()


@bp.route(f"/tasks/<{ID}:task_id>", methods=["PUT", "PATCH"])
def update_task(task_id: int):
    data, problem = json_body()
    if problem:
        return problem
    clean, errors = validate_task(data, partial=request.method == "PATCH")
    if errors:
        return validation_error(errors)
    task = services.get_task(task_id)
    if task is None:
        return not_found()
    return jsonify(services.update_task(task, clean).to_dict())


@bp.delete(f"/tasks/<{ID}:task_id>")
def delete_task(task_id: int):
    task = services.get_task(task_id)
    if task is None:
        return not_found()
    services.delete_task(task)
    return Response(status=204)


@bp.get(f"/tasks/<{ID}:task_id>/attachments")
def list_attachments(task_id: int):
    task = services.get_task(task_id)
    if task is None:
        return not_found()
    return jsonify({"items": [a.to_dict() for a in task.attachments]})


@bp.post(f"/tasks/<{ID}:task_id>/attachments")
def upload_attachment(task_id: int):
    if request.mimetype != "multipart/form-data":
        return error(415, "unsupported_media_type", "Upload the file as multipart/form-data, field 'file'.")
    task = services.get_task(task_id)
    if task is None:
        return not_found()
    attachment, errors, status = services.add_attachment(task, request.files.get("file"))
    if errors:
        codes = {400: "validation_error", 413: "too_large", 415: "unsupported_media_type"}
        return error(status, codes[status], "The file was not accepted.", errors)
    return jsonify(attachment.to_dict()), 201


@bp.get(f"/tasks/<{ID}:task_id>/attachments/<{ID}:attachment_id>")
def download_attachment(task_id: int, attachment_id: int):
    attachment = services.get_attachment(task_id, attachment_id)
    if attachment is None:
        return not_found()
    data = services.read_attachment(attachment)
    response = Response(data, mimetype=attachment.content_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{attachment.filename}"'
    return response


@bp.delete(f"/tasks/<{ID}:task_id>/attachments/<{ID}:attachment_id>")
def delete_attachment(task_id: int, attachment_id: int):
    attachment = services.get_attachment(task_id, attachment_id)
    if attachment is None:
        return not_found()
    services.delete_attachment(attachment)
    return Response(status=204)
