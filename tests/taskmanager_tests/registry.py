# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The emulator's ECR registry (a real registry on a loopback address) through its HTTP API."""

from __future__ import annotations

import json
import urllib.error
import urllib.request


def request(url: str, method: str = "GET", body: bytes | None = None, headers: dict | None = None):
    """One request to the registry: the open response (use it in a ``with``)."""
    sent = urllib.request.Request(url, body, headers or {}, method=method)  # noqa: S310 - http on loopback
    return urllib.request.urlopen(sent, timeout=10)  # noqa: S310 - the data plane's loopback registry


def tags(registry: str, name: str) -> list[str]:
    """Repository ``name``'s tags ([] when it holds none, or the registry does not know it)."""
    try:
        with request(f"http://{registry}/v2/{name}/tags/list") as answer:
            return json.load(answer).get("tags") or []
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return []
        raise
