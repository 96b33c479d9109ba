# Copyright: contributors to the taskmanager.aws collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: ansiballz_cache
type: aggregate
author: taskmanager.aws contributors (!UNKNOWN)
version_added: 1.1.0
short_description: Keep the modules Ansible packs from one run to the next
description:
  - Before it runs a Python module, Ansible packs the module and every C(module_utils) file it
    imports into a zip (AnsiballZ). Finding those imports parses each file's syntax tree, which
    for an C(amazon.aws) module means twenty to forty files. Ansible keeps the zips in the run's
    own temporary folder only, so every run builds each of its modules again. In a C(site.yml)
    re-run, that was a third of the controller's CPU.
  - When a run ends, this callback copies the zips it built into O(dir), with the path, size
    and modification time of every file packed in each.
  - When a run starts, it puts back each zip whose files are all as recorded. Ansible then uses
    it as one it built itself in this run. A module whose files changed, or that another file
    would now shadow (an earlier collection path, another install of ansible-core), is left out,
    and Ansible builds it again.
  - It changes nothing else. The modules, their arguments and their results are Ansible's own.
    Without the callback, each run builds every module, as Ansible does by default.
  - It reads the layout of the run's zips of ansible-core 2.19 and later (the collection's
    C(requires_ansible)); a zip it cannot read is not kept.
options:
  dir:
    description:
      - The folder the zips are kept in. It holds a folder per ansible-core install and
        collection search path, made readable by its owner only. A run removes the folders of
        installs or collection paths that are gone, and those unused for 30 days.
    type: path
    default: ~/.ansible/taskmanager/ansiballz
    env:
      - name: TASKMANAGER_ANSIBALLZ_CACHE
    ini:
      - section: callback_ansiballz_cache
        key: dir
"""

import base64
import hashlib
import io
import json
import os
import pickle
import shutil
import sys
import tempfile
import time
import zipfile

import ansible
from ansible import constants as C
from ansible.plugins.callback import CallbackBase
from ansible.release import __version__ as ANSIBLE_VERSION
from ansible.utils.collection_loader import AnsibleCollectionConfig

# Where Ansible keeps a run's zips (ansible.executor.module_common): one file per module,
# "<module FQN>-<compression>-<extensions>", a pickle of a _CachedModule with zip_data.
RUN_FOLDER = "ansiballz_cache"
# Zips built with an extension (the debugger, coverage) carry more than the module's files.
NO_EXTENSIONS = "-none"
MANIFEST = ".json"
# Each folder of the cache names the install it is for: once one of those folders is gone (a
# temporary install, a removed venv), or the folder has not been used for UNUSED_DAYS, a run removes it.
KEY = "key.json"
UNUSED_DAYS = 30


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write(path: str, data: bytes) -> None:
    """Write a file whole or not at all: another run may be reading the folder."""
    fd, temp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temp, path)
    except BaseException:
        os.unlink(temp)
        raise


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "taskmanager.aws.ansiballz_cache"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None):
        super().__init__(display=display)
        self._store = ""
        self._run = ""
        self._roots: list[str] = []  # the collection search path, as the run resolves it
        self._ansible_root = os.path.dirname(os.path.dirname(os.path.abspath(ansible.__file__)))
        self._restored: dict[str, str] = {}  # file name -> digest of what was put back
        self._stale = 0

    # ------------------------------------------------------------------------------ where
    def _source(self, member: str) -> list | None:
        """The file Ansible packs as member (path, size, mtime in ns), or None where none exists."""
        for root in self._roots if member.startswith("ansible_collections/") else [self._ansible_root]:
            path = os.path.join(root, member)
            try:
                stat = os.stat(path)
            except OSError:
                continue
            return [path, stat.st_size, stat.st_mtime_ns]
        return None

    def _open(self) -> bool:
        """Find the run's folder and this install's folder of the cache; False to do nothing."""
        if self._store:
            return True
        roots = [str(path) for path in AnsibleCollectionConfig.collection_paths]
        key = json.dumps([ANSIBLE_VERSION, sys.version_info[:2], self._ansible_root, roots]).encode()
        try:
            store = os.path.join(os.path.expanduser(self.get_option("dir")), _digest(key)[:16])
            os.makedirs(store, mode=0o700, exist_ok=True)
            run = os.path.join(C.DEFAULT_LOCAL_TMP, RUN_FOLDER)
            os.makedirs(run, exist_ok=True)
            # Written on each use (its time says when the folder was last used), with the paths
            # that hold collections now (the search path may name a folder not made yet).
            held = [root for root in roots if os.path.isdir(os.path.join(root, "ansible_collections"))]
            _write(os.path.join(store, KEY), json.dumps({"ansible": self._ansible_root, "collections": held}).encode())
        except OSError as error:
            self._display.vv(f"ansiballz_cache: off ({error})")
            return False
        self._store, self._run, self._roots = store, run, roots
        return True

    # ------------------------------------------------------------------------------ when
    def v2_playbook_on_start(self, playbook):
        if self._open():
            self._restore()

    def v2_playbook_on_stats(self, stats):
        if self._open():
            saved = self._save()
            self._prune()
            self._display.vv(
                f"ansiballz_cache: {len(self._restored)} modules reused, {self._stale} built again"
                f" (files changed), {saved} kept for the next run, in {self._store}"
            )

    # ------------------------------------------------------------------------------ what
    def _restore(self) -> None:
        for entry in os.listdir(self._store):
            if not entry.endswith(NO_EXTENSIONS + MANIFEST):
                continue
            name = entry[: -len(MANIFEST)]
            target = os.path.join(self._run, name)
            if os.path.exists(target):
                continue  # put back or built already (an earlier playbook of this run)
            try:
                with open(os.path.join(self._store, entry), encoding="utf-8") as handle:
                    manifest = json.load(handle)
                if any(self._source(member) != source for member, source in manifest["files"].items()):
                    self._stale += 1
                    continue
                with open(os.path.join(self._store, name), "rb") as handle:
                    data = handle.read()
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                continue  # written by another version, or being replaced: Ansible builds it
            if _digest(data) != manifest.get("sha256"):
                continue
            _write(target, data)
            self._restored[name] = manifest["sha256"]

    def _prune(self) -> None:
        """Remove the folders of installs that are gone, or unused for UNUSED_DAYS."""
        parent = os.path.dirname(self._store)
        for entry in os.listdir(parent):
            folder = os.path.join(parent, entry)
            if folder == self._store or not os.path.isdir(folder):
                continue
            if self._unused(folder):
                shutil.rmtree(folder, ignore_errors=True)

    @staticmethod
    def _unused(folder: str) -> bool:
        """True when the folder's install or collection paths are gone, or it is UNUSED_DAYS old."""
        key_path = os.path.join(folder, KEY)
        try:
            if not os.path.exists(key_path):
                # Made without a key (by an earlier version), or being made by another run now.
                return time.time() - os.stat(folder).st_mtime > 3600
            with open(key_path, encoding="utf-8") as handle:
                key = json.load(handle)
            age = time.time() - os.stat(key_path).st_mtime
            held = [os.path.join(key["ansible"], "ansible")]
            held += [os.path.join(root, "ansible_collections") for root in key["collections"]]
        except (OSError, ValueError, KeyError, TypeError):
            return False  # being replaced by another run
        return age > UNUSED_DAYS * 86400 or not all(os.path.isdir(path) for path in held)

    def _save(self) -> int:
        saved = 0
        for name in os.listdir(self._run):
            path = os.path.join(self._run, name)
            if not name.endswith(NO_EXTENSIONS) or name.startswith("."):
                continue
            try:
                with open(path, "rb") as handle:
                    data = handle.read()
                digest = _digest(data)
                if self._restored.get(name) == digest:
                    continue
                # The run's own file, which Ansible wrote and reads the same way.
                cached = pickle.loads(data)  # noqa: S301 - the run's own cache file, written by Ansible
                with zipfile.ZipFile(io.BytesIO(base64.b64decode(cached.zip_data))) as zipped:
                    members = zipped.namelist()
            except (OSError, ValueError, AttributeError, pickle.UnpicklingError, zipfile.BadZipFile):
                continue
            files = {member: self._source(member) for member in members}
            _write(os.path.join(self._store, name), data)
            _write(
                os.path.join(self._store, name + MANIFEST),
                json.dumps({"sha256": digest, "files": files}, indent=0).encode(),
            )
            saved += 1
        return saved
