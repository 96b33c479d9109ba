"""Task and attachment operations shared by the JSON API and the HTML views."""

from __future__ import annotations

import math

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import NotFound
from werkzeug.utils import secure_filename

from . import storage
from .extensions import db
from .i18n import t
from .models import FILENAME_MAX, Attachment, Task, task_dict

TASK_COLUMNS = ("id", "title", "description", "status", "due_date", "created_at", "updated_at")


def list_tasks(status: str | None, page: int, per_page: int) -> dict:
    """One page of tasks as API dicts, newest first. Plain rows, not ORM objects: the list is the hot
    path (UI and API), and a correlated count replaces loading every attachment."""
    attachment_count = (
        select(func.count(Attachment.id)).where(Attachment.task_id == Task.id).correlate(Task).scalar_subquery()
    )
    query = select(*[getattr(Task, c) for c in TASK_COLUMNS], attachment_count.label("attachment_count"))
    count = select(func.count(Task.id))
    if status:
        query = query.where(Task.status == status)
        count = count.where(Task.status == status)
    total = db.session.scalar(count) or 0
    rows = db.session.execute(query.order_by(Task.id.desc()).limit(per_page).offset((page - 1) * per_page)).all()
    return {
        "items": [task_dict(row, row.attachment_count) for row in rows],
        "page": page,
        "per_page": per_page,
        "total": total,
        "pages": math.ceil(total / per_page) if total else 0,
    }


ID_MAX = 2**31 - 1  # INT columns: larger path IDs cannot exist (and would overflow SQLite's binding)


def get_task(task_id: int) -> Task | None:
    return db.session.get(Task, task_id) if 0 < task_id <= ID_MAX else None


def create_task(clean: dict) -> Task:
    task = Task(**clean)
    db.session.add(task)
    db.session.commit()
    return task


def update_task(task: Task, clean: dict) -> Task:
    """Write ``clean`` to ``task``. Another worker may delete the row between our read and this write:
    the UPDATE then matches no row, and the answer is the 404 a request a moment later would get."""
    for key, value in clean.items():
        setattr(task, key, value)
    try:
        db.session.commit()
    except StaleDataError:
        db.session.rollback()
        raise NotFound() from None
    return task


def delete_task(task: Task) -> None:
    keys = [a.storage_key for a in task.attachments]
    db.session.delete(task)
    db.session.commit()
    store = get_storage()
    for key in keys:
        store.delete(key)


def get_storage():
    ext = current_app.extensions
    if "taskmanager_storage" not in ext:
        ext["taskmanager_storage"] = storage.from_config(current_app.config)
    return ext["taskmanager_storage"]


def add_attachment(task: Task, upload) -> tuple[Attachment | None, dict, int]:
    """Validate and store an uploaded file. Returns (attachment, errors, HTTP status)."""
    if upload is None or not upload.filename:
        return None, {"file": [t("err_file_missing")]}, 400
    content_type = (upload.mimetype or "").lower()
    if content_type not in current_app.config["UPLOAD_TYPES"]:
        return None, {"file": [t("err_file_type", type=content_type or "?")]}, 415
    limit = current_app.config["MAX_UPLOAD_BYTES"]
    data = upload.stream.read(limit + 1)
    if len(data) > limit:
        return None, {"file": [t("err_file_size", max=limit)]}, 413
    if not storage.content_matches(content_type, data):
        return None, {"file": [t("err_file_content")]}, 400
    filename = (secure_filename(upload.filename) or "attachment")[-FILENAME_MAX:]
    task_id = task.id
    key = storage.new_key(task_id)
    get_storage().put(key, data, content_type)
    attachment = Attachment(task=task, filename=filename, content_type=content_type, size=len(data), storage_key=key)
    db.session.add(attachment)
    try:
        db.session.commit()
    except IntegrityError:
        # The task was deleted by another worker after we loaded it: the foreign key refuses the row.
        db.session.rollback()
        get_storage().delete(key)
        if db.session.get(Task, task_id) is None:
            raise NotFound() from None
        raise
    return attachment, {}, 201


def get_attachment(task_id: int, attachment_id: int) -> Attachment | None:
    if not (0 < task_id <= ID_MAX and 0 < attachment_id <= ID_MAX):
        return None
    attachment = db.session.get(Attachment, attachment_id)
    return attachment if attachment is not None and attachment.task_id == task_id else None


def read_attachment(attachment: Attachment) -> bytes:
    """The stored bytes; 404 when another worker deleted them after this request read the row."""
    try:
        return get_storage().get(attachment.storage_key)
    except storage.MissingObject:
        raise NotFound() from None


def delete_attachment(attachment: Attachment) -> None:
    key = attachment.storage_key
    db.session.delete(attachment)
    db.session.commit()
    get_storage().delete(key)
