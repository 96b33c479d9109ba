"""The OpenAPI 3.0 document served at /openapi.json.

Limits come from the same constants the validators use, so the document and the code cannot drift
apart; tests/webapp/test_schemathesis.py fuzzes the live API against it.
"""

from __future__ import annotations

from functools import lru_cache

from . import __version__
from .models import DESCRIPTION_MAX, STATUSES, TITLE_MAX
from .validation import PAGE_MAX, PER_PAGE_MAX

JSON = "application/json"
ID_MAX = 2147483647


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _errors(*codes: int) -> dict:
    text = {
        400: "Validation error, with a message list per field",
        404: "No such task or attachment",
        413: "Request or file too large",
        415: "Unsupported media type",
    }
    return {str(code): _json(_ref("Error"), text[code]) for code in codes}


# gunicorn (limit_request_line in webapp/deploy/gunicorn.conf.py) and nginx refuse an over-long request
# line before the app sees it, with their own (HTML) body: only operations with a query string can reach it.
URI_TOO_LONG = {"414": {"description": "Request line longer than 4094 bytes, refused by the server in front"}}


def _path_id(name: str) -> dict:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 0, "maximum": ID_MAX},
    }


TASK_ID = _path_id("task_id")
ATTACHMENT_ID = _path_id("attachment_id")
TASK_FIELDS = {
    "title": {"type": "string", "minLength": 1, "maxLength": TITLE_MAX},
    "description": {"type": "string", "maxLength": DESCRIPTION_MAX},
    "status": {"type": "string", "enum": list(STATUSES)},
    "due_date": {"type": "string", "format": "date", "nullable": True},
}


@lru_cache(maxsize=1)
def spec() -> dict:
    timestamp = {"type": "string", "format": "date-time"}
    schemas = {
        "Task": {
            "type": "object",
            "required": ["id", "title", "description", "status", "due_date", "created_at", "updated_at"],
            "properties": {
                "id": {"type": "integer"},
                **TASK_FIELDS,
                "title": {"type": "string", "maxLength": TITLE_MAX},
                "created_at": timestamp,
                "updated_at": timestamp,
                "attachment_count": {"type": "integer", "minimum": 0},
            },
        },
        "TaskInput": {
            "type": "object",
            "required": ["title"],
            "additionalProperties": False,
            "properties": TASK_FIELDS,
        },
        "TaskPatch": {"type": "object", "additionalProperties": False, "properties": TASK_FIELDS},
        "TaskPage": {
            "type": "object",
            "required": ["items", "page", "per_page", "total", "pages"],
            "properties": {
                "items": {"type": "array", "items": _ref("Task")},
                "page": {"type": "integer"},
                "per_page": {"type": "integer"},
                "total": {"type": "integer"},
                "pages": {"type": "integer"},
            },
        },
        "Attachment": {
            "type": "object",
            "required": ["id", "task_id", "filename", "content_type", "size", "created_at"],
            "properties": {
                "id": {"type": "integer"},
                "task_id": {"type": "integer"},
                "filename": {"type": "string"},
                "content_type": {"type": "string"},
                "size": {"type": "integer"},
                "created_at": timestamp,
            },
        },
        "AttachmentList": {
            "type": "object",
            "required": ["items"],
            "properties": {"items": {"type": "array", "items": _ref("Attachment")}},
        },
        "Error": {
            "type": "object",
            "required": ["error", "message"],
            "properties": {
                "error": {"type": "string"},
                "message": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
            },
        },
        "Health": {
            "type": "object",
            "required": ["status", "database"],
            "properties": {"status": {"type": "string"}, "database": {"type": "string"}},
        },
        "Instance": {
            "type": "object",
            "required": ["instance_id", "availability_zone", "kind", "hostname"],
            "properties": {
                "instance_id": {"type": "string"},
                "availability_zone": {"type": "string", "nullable": True},
                "kind": {"type": "string", "enum": ["ec2", "ecs", "local"]},
                "hostname": {"type": "string"},
            },
        },
    }
    task_body = {"required": True, "content": {JSON: {"schema": _ref("TaskInput")}}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "Task manager", "version": __version__},
        "paths": {
            "/health": {
                "get": {
                    "operationId": "health",
                    "summary": "Liveness and database check",
                    "responses": {
                        "200": _json(_ref("Health"), "The app and its database answer"),
                        "503": _json(_ref("Health"), "The database does not answer"),
                    },
                }
            },
            "/instance": {
                "get": {
                    "operationId": "instance",
                    "summary": "Which instance, ECS task or local process served this request",
                    "responses": {
                        "200": {
                            "description": "Identity; text/plain answers 'Du er koblet til instans: <id>'",
                            "content": {
                                JSON: {"schema": _ref("Instance")},
                                "text/plain": {"schema": {"type": "string"}},
                            },
                        }
                    },
                }
            },
            "/api/tasks": {
                "get": {
                    "operationId": "listTasks",
                    "parameters": [
                        {"name": "status", "in": "query", "schema": {"type": "string", "enum": list(STATUSES)}},
                        {
                            "name": "page",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": PAGE_MAX},
                        },
                        {
                            "name": "per_page",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": PER_PAGE_MAX},
                        },
                    ],
                    "responses": {
                        "200": _json(_ref("TaskPage"), "One page of tasks, newest first"),
                        **_errors(400),
                        **URI_TOO_LONG,
                    },
                },
                "post": {
                    "operationId": "createTask",
                    "requestBody": task_body,
                    "responses": {"201": _json(_ref("Task"), "Created"), **_errors(400, 413, 415)},
                },
            },
            "/api/tasks/{task_id}": {
                "parameters": [TASK_ID],
                "get": {
                    "operationId": "getTask",
                    "responses": {"200": _json(_ref("Task"), "The task"), **_errors(404)},
                },
                "put": {
                    "operationId": "replaceTask",
                    "requestBody": task_body,
                    "responses": {"200": _json(_ref("Task"), "Replaced"), **_errors(400, 404, 413, 415)},
                },
                "patch": {
                    "operationId": "updateTask",
                    "requestBody": {"required": True, "content": {JSON: {"schema": _ref("TaskPatch")}}},
                    "responses": {"200": _json(_ref("Task"), "Updated"), **_errors(400, 404, 413, 415)},
                },
                "delete": {
                    "operationId": "deleteTask",
                    "responses": {"204": {"description": "Deleted with its attachments"}, **_errors(404)},
                },
            },
            "/api/tasks/{task_id}/attachments": {
                "parameters": [TASK_ID],
                "get": {
                    "operationId": "listAttachments",
                    "responses": {"200": _json(_ref("AttachmentList"), "The task's attachments"), **_errors(404)},
                },
                "post": {
                    "operationId": "uploadAttachment",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "multipart/form-data": {
                                "schema": {
                                    "type": "object",
                                    "required": ["file"],
                                    "properties": {"file": {"type": "string", "format": "binary"}},
                                }
                            }
                        },
                    },
                    "responses": {"201": _json(_ref("Attachment"), "Stored"), **_errors(400, 404, 413, 415)},
                },
            },
            "/api/tasks/{task_id}/attachments/{attachment_id}": {
                "parameters": [TASK_ID, ATTACHMENT_ID],
                "get": {
                    "operationId": "downloadAttachment",
                    "responses": {
                        "200": {
                            "description": "The file, as an attachment",
                            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
                        },
                        **_errors(404),
                    },
                },
                "delete": {
                    "operationId": "deleteAttachment",
                    "responses": {"204": {"description": "Deleted"}, **_errors(404)},
                },
            },
        },
        "components": {"schemas": schemas},
    }
