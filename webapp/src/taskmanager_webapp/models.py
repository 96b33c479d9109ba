"""ORM models. All SQL goes through SQLAlchemy; there is no hand-written query text."""

from __future__ import annotations

import datetime as dt

from .extensions import db

STATUSES = ("todo", "in_progress", "done")
TITLE_MAX = 200
DESCRIPTION_MAX = 5000
FILENAME_MAX = 255


def utcnow() -> dt.datetime:
    """Naive UTC (MySQL DATETIME and SQLite store no zone); rendered with a trailing Z."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() + "Z" if value else None


class Task(db.Model):
    __tablename__ = "tasks"

    id = db.Column(db.Integer, primary_key=True)
    title = db.Column(db.String(TITLE_MAX), nullable=False)
    description = db.Column(db.Text, nullable=False, default="")
    status = db.Column(db.String(20), nullable=False, default="todo", index=True)
    due_date = db.Column(db.Date, nullable=True)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    updated_at = db.Column(db.DateTime, nullable=False, default=utcnow, onupdate=utcnow)
    attachments = db.relationship(
        "Attachment", back_populates="task", cascade="all, delete-orphan", order_by="Attachment.id"
    )

    def to_dict(self) -> dict:
        return task_dict(self, len(self.attachments))


def task_dict(task, attachment_count: int) -> dict:
    """The API representation, from a Task or from a row with the same column names."""
    return {
        "id": task.id,
        "title": task.title,
        "description": task.description or "",
        "status": task.status,
        "due_date": task.due_date.isoformat() if task.due_date else None,
        "created_at": iso(task.created_at),
        "updated_at": iso(task.updated_at),
        "attachment_count": attachment_count,
    }


class Attachment(db.Model):
    __tablename__ = "attachments"

    id = db.Column(db.Integer, primary_key=True)
    task_id = db.Column(db.Integer, db.ForeignKey("tasks.id", ondelete="CASCADE"), nullable=False, index=True)
    filename = db.Column(db.String(FILENAME_MAX), nullable=False)
    content_type = db.Column(db.String(100), nullable=False)
    size = db.Column(db.Integer, nullable=False)
    storage_key = db.Column(db.String(512), nullable=False, unique=True)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    task = db.relationship("Task", back_populates="attachments")

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "task_id": self.task_id,
            "filename": self.filename,
            "content_type": self.content_type,
            "size": self.size,
            "created_at": iso(self.created_at),
        }
