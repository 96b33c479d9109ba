"""Attachment storage: S3 through boto3 when a bucket is configured, else a local folder."""

from __future__ import annotations

import uuid
from pathlib import Path

# Leading bytes that the allowed binary types must start with; text/plain must be UTF-8.
MAGIC = {
    "application/pdf": (b"%PDF-",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
}


def content_matches(content_type: str, data: bytes) -> bool:
    if content_type in MAGIC:
        return data.startswith(MAGIC[content_type])
    if content_type == "text/plain":
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return b"\x00" not in data
    return True


class MissingObject(LookupError):
    """The stored bytes are gone: another worker deleted the attachment after this request read its row."""


def new_key(task_id: int) -> str:
    return f"tasks/{task_id}/{uuid.uuid4().hex}"


class LocalStorage:
    kind = "local"

    def __init__(self, root: Path):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError(f"storage key escapes the upload folder: {key!r}")
        return path

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.replace(path)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise MissingObject(key) from None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


class S3Storage:
    kind = "s3"

    def __init__(self, bucket: str, prefix: str = "", client=None):
        import boto3

        self.bucket = bucket
        self.prefix = prefix
        self.client = client or boto3.client("s3")

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self.client.put_object(
            Bucket=self.bucket,
            Key=self.prefix + key,
            Body=data,
            ContentType=content_type,
            ServerSideEncryption="AES256",
        )

    def get(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"].read()
        except self.client.exceptions.NoSuchKey:
            raise MissingObject(key) from None

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.prefix + key)


def from_config(config: dict):
    if config.get("S3_BUCKET"):
        return S3Storage(config["S3_BUCKET"], config.get("S3_PREFIX", ""))
    return LocalStorage(config["UPLOAD_DIR"])
