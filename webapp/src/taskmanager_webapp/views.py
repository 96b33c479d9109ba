"""HTML UI: task list with a status filter, create, edit, mark done, delete, attachments."""

from __future__ import annotations

from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, url_for

from . import services
from .i18n import LANGUAGES, t
from .models import STATUSES
from .validation import PAGE_MAX, status_arg, validate_task

bp = Blueprint("ui", __name__)
ID = "int"
PER_PAGE = 50


def _task_or_404(task_id: int):
    task = services.get_task(task_id)
    if task is None:
        abort(404)
    return task


def _form_data() -> dict:
    return {field: request.form.get(field, "") for field in ("title", "description", "status", "due_date")}


@bp.get("/")
def index():
    errors: dict = {}
    status = status_arg(request.args, errors)
    try:
        page = min(max(int(request.args.get("page", "1")), 1), PAGE_MAX)
    except ValueError:
        page = 1
    result = services.list_tasks(status, page, PER_PAGE)
    return render_template("index.html", result=result, current_status=status, statuses=STATUSES)


@bp.route("/tasks/new", methods=["GET", "POST"])
def new_task():
    form, errors = {"status": "todo"}, {}
    if request.method == "POST":
        form = _form_data()
        clean, errors = validate_task(form)
        if not errors:
            services.create_task(clean)
            flash(t("flash_created"))
            return redirect(url_for("ui.index"))
    return render_template("form.html", form=form, errors=errors, task=None, statuses=STATUSES), 400 if errors else 200


@bp.route(f"/tasks/<{ID}:task_id>/edit", methods=["GET", "POST"])
def edit_task(task_id: int):
    task = _task_or_404(task_id)
    errors: dict = {}
    form = task.to_dict()
    if request.method == "POST":
        form = _form_data()
        clean, errors = validate_task(form)
        if not errors:
            services.update_task(task, clean)
            flash(t("flash_updated"))
            return redirect(url_for("ui.task_detail", task_id=task.id))
    return render_template("form.html", form=form, errors=errors, task=task, statuses=STATUSES), 400 if errors else 200


@bp.get(f"/tasks/<{ID}:task_id>")
def task_detail(task_id: int):
    return render_template("detail.html", task=_task_or_404(task_id), errors={})


@bp.post(f"/tasks/<{ID}:task_id>/done")
def mark_done(task_id: int):
    services.update_task(_task_or_404(task_id), {"status": "done"})
    flash(t("flash_done"))
    return redirect(request.form.get("next") if request.form.get("next", "").startswith("/?") else url_for("ui.index"))


@bp.post(f"/tasks/<{ID}:task_id>/delete")
def delete_task(task_id: int):
    services.delete_task(_task_or_404(task_id))
    flash(t("flash_deleted"))
    return redirect(url_for("ui.index"))


@bp.post(f"/tasks/<{ID}:task_id>/attachments")
def upload(task_id: int):
    task = _task_or_404(task_id)
    _attachment, errors, status = services.add_attachment(task, request.files.get("file"))
    if errors:
        return render_template("detail.html", task=task, errors=errors), status
    flash(t("flash_uploaded"))
    return redirect(url_for("ui.task_detail", task_id=task.id))


@bp.get(f"/tasks/<{ID}:task_id>/attachments/<{ID}:attachment_id>")
def download(task_id: int, attachment_id: int):
    attachment = services.get_attachment(task_id, attachment_id) or abort(404)
    response = make_response(services.read_attachment(attachment))
    response.mimetype = attachment.content_type
    response.headers["Content-Disposition"] = f'attachment; filename="{attachment.filename}"'
    return response


@bp.get("/lang/<code>")
def set_language(code: str):
    if code not in LANGUAGES:
        abort(404)
    response = redirect(url_for("ui.index"))
    response.set_cookie("lang", code, max_age=365 * 24 * 3600, samesite="Lax", httponly=True)
    return response
