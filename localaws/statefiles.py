"""The files the data plane and the emulator share in the state folder (``.state/local-aws-<port>``).

JSON, written whole: a temporary file renamed over the old one, so that a reader in the other
process (the emulator answering an API call while the data plane writes) never sees half a file.
A file that is missing or half-written reads as the default.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def write_json(path: Path | str, data, mode: int = 0o644) -> None:
    """Write `data` to `path` atomically, created with `mode` (0o600 for what holds a secret)."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1, sort_keys=True, default=str)
    os.replace(tmp, path)


def read_json(path: Path | str | None, default):
    """The file's data, or `default` when there is no such file (or no path) or it does not parse."""
    if not path:
        return default
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return default
