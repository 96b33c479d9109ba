"""ECR's data plane: a real image registry (Debian's ``docker-registry``, the CNCF Distribution
registry) on a loopback address of the emulator's own, started beside the emulator.

The emulator hands out repository URIs on this registry (localaws/emulator.py, fix 15), so a
client pushes to ``repositoryUri`` exactly as it pushes to ECR; the ECS agent pulls a task's
image from it (here: resolves the image's manifest, see localaws/ecs.py).
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

log = logging.getLogger("localaws.registry")

MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)
BINARY = "docker-registry"


def storage_root(state_dir: Path) -> Path:
    """Where the registry of ``state_dir`` keeps its blobs and repositories (its filesystem driver's root)."""
    return Path(state_dir) / "data"


def repository_dir(state_dir: Path, name: str) -> Path:
    """A repository's folder in the registry's storage (its tags, manifests and layer links)."""
    return storage_root(state_dir) / "docker" / "registry" / "v2" / "repositories" / name


def has_tags(state_dir: Path, name: str) -> bool:
    """Whether the registry holds a tagged image in repository ``name``."""
    tags = repository_dir(state_dir, name) / "_manifests" / "tags"
    return tags.is_dir() and any(tags.iterdir())


def delete_repository(state_dir: Path, name: str) -> None:
    """Remove a repository from the registry's storage, and the folders its name leaves empty.

    The repository's images go with it, as with ECR's DeleteRepository (force). Its layers stay in the
    registry's shared blob store, where no repository refers to them any more.
    """
    folder = repository_dir(state_dir, name)
    shutil.rmtree(folder, ignore_errors=True)
    top = repository_dir(state_dir, "")
    for parent in folder.parents:
        if parent == top:
            break
        with contextlib.suppress(OSError):
            parent.rmdir()  # only when empty


class PullError(Exception):
    """The image cannot be pulled (the text is what ECS puts after CannotPullContainerError)."""


def split_reference(image: str) -> tuple[str, str, str]:
    """(registry host[:port], repository, tag or digest) of an image reference with a registry."""
    host, _sep, rest = image.partition("/")
    if not rest or not ("." in host or ":" in host or host == "localhost"):
        raise PullError(f"pull access denied for {image}: no registry in the reference (Docker Hub is not reachable)")
    if "@" in rest:
        name, _sep, ref = rest.partition("@")
    else:
        name, _sep, ref = rest.rpartition(":") if ":" in rest else (rest, "", "latest")
    return host, name, ref


def resolve(image: str, timeout: float = 5) -> str:
    """The digest of the image's manifest in its registry, or PullError saying why not."""
    host, name, ref = split_reference(image)
    request = urllib.request.Request(
        f"http://{host}/v2/{name}/manifests/{ref}", method="HEAD", headers={"Accept": MANIFEST_TYPES}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 - a loopback registry
            digest = answer.headers.get("Docker-Content-Digest", "")
    except urllib.error.HTTPError as exc:
        raise PullError(f"failed to resolve ref {image}: {exc.code} {exc.reason}: manifest unknown") from exc
    except OSError as exc:
        raise PullError(f"failed to resolve ref {image}: {exc}") from exc
    if ref.startswith("sha256:") and digest and digest != ref:
        raise PullError(f"failed to resolve ref {image}: the registry answers digest {digest}")
    return digest or ref


class Registry:
    """The registry process (``python -m localaws.registry``: scripts/local-aws.sh starts and stops it
    with the emulator, so that a repository URI works with or without the data plane)."""

    def __init__(self, state_dir: Path, address: str):
        self.state_dir = state_dir
        self.address = address
        self.process: subprocess.Popen | None = None

    def start(self) -> bool:
        binary = shutil.which(BINARY) or f"/usr/bin/{BINARY}"
        if not Path(binary).exists():
            log.error("%s is not installed (scripts/system-deps.sh dataplane): ECR has no registry", BINARY)
            return False
        self.state_dir.mkdir(parents=True, exist_ok=True)
        config = self.state_dir / "config.yml"
        # JSON is YAML: the registry reads this file as its configuration.
        config.write_text(
            json.dumps(
                {
                    "version": 0.1,
                    "log": {"level": "warn", "accesslog": {"disabled": True}},
                    "storage": {
                        "filesystem": {"rootdirectory": str(storage_root(self.state_dir))},
                        "delete": {"enabled": True},
                    },
                    "http": {"addr": self.address if ":" in self.address else f"{self.address}:80"},
                },
                indent=1,
            )
        )
        with open(self.state_dir / "registry.log", "ab") as out:
            self.process = subprocess.Popen(  # noqa: S603 - our own binary and config
                [binary, "serve", str(config)], stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log.error("the registry exited at start (status %s); see %s", self.process.returncode, out.name)
                return False
            with contextlib.suppress(OSError), urllib.request.urlopen(f"http://{self.address}/v2/", timeout=1):  # noqa: S310
                log.info("registry (ECR's data plane) at %s", self.address)
                return True
            time.sleep(0.1)
        log.error("the registry did not answer at %s in 15 s", self.address)
        return False

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        log.info("registry stopped")


def main(argv: list[str] | None = None) -> None:
    """Run the registry until SIGTERM (scripts/local-aws.sh starts it beside the emulator)."""
    import argparse
    import signal
    import threading

    parser = argparse.ArgumentParser(description="ECR's registry for the local emulator")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--address", required=True, help="host[:port]; port 80 when not given")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    registry = Registry(args.state_dir.resolve(), args.address)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_args: stop.set())
    signal.signal(signal.SIGINT, lambda *_args: stop.set())
    if not registry.start():
        raise SystemExit(1)
    (args.state_dir / "ready").write_text(args.address)
    while not stop.wait(1):
        if registry.process is not None and registry.process.poll() is not None:
            log.error("the registry exited (status %s)", registry.process.returncode)
            raise SystemExit(1)
    registry.stop()
    (args.state_dir / "ready").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
