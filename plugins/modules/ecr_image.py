#!/usr/bin/python

# Copyright: Contributors to the taskmanager.aws collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ecr_image
version_added: 1.0.0
short_description: Build a container image with buildah and push it to an Amazon ECR repository, once per content
description:
  - Builds an image from a Dockerfile and a build context made of the given files, with C(buildah) (no Docker
    daemon) in C(vfs) storage and C(chroot) isolation, and pushes it to an existing ECR repository with the
    credentials of the ECR authorization token.
  - The image is tagged with a hash of everything it is built from (the Dockerfile, the files, the base).
    When the repository already holds that tag, nothing is built or pushed and the module reports no change;
    its digest is read from the registry.
  - The base image is the Dockerfile's first C(FROM), or O(base_image), or, with O(debian_base), an image
    built from Debian packages with C(debootstrap) (for hosts that cannot pull from Docker Hub). A Debian base
    is kept in the local buildah storage, keyed by its recipe, and built once; so is each built image, keyed
    by its content tag (a push to another registry of the same content builds nothing).
  - Create the repository first with M(community.aws.ecs_ecr).
  - Runs on the controller, as root (buildah in C(vfs) storage without a user namespace).
author:
  - taskmanager.aws contributors (!UNKNOWN)
options:
  repository:
    description: Name of the ECR repository.
    required: true
    type: str
  registry_id:
    description: AWS account ID of the registry. The caller's account when not given.
    type: str
  dockerfile:
    description: Path of the Dockerfile on the controller.
    required: true
    type: path
  files:
    description:
      - Files copied flat (by their base name) into the build context, which holds nothing else.
    required: true
    type: list
    elements: path
  base_image:
    description:
      - Replaces the Dockerfile's first C(FROM) (C(buildah build --from)). Empty keeps the Dockerfile's.
      - Ignored when O(debian_base) is given.
    type: str
    default: ""
  debian_base:
    description:
      - Build the base image from Debian packages with C(debootstrap --variant=minbase) instead of pulling one.
    type: dict
    suboptions:
      suite:
        description: Debian suite.
        type: str
        default: bookworm
      mirror:
        description: Debian mirror.
        type: str
        default: http://deb.debian.org/debian
      packages:
        description: Packages installed on top of the minimal base.
        type: list
        elements: str
        default: []
      environment:
        description: Environment of the base image (C(ENV)).
        type: dict
        default: {}
  ca_bundle:
    description:
      - A CA bundle on the controller that the build's C(RUN) steps trust (mounted read-only over the image's
        C(/etc/ssl/certs/ca-certificates.crt) while it builds, not stored in the image), for a build host whose
        network inspects TLS with its own CA. Empty mounts nothing.
    type: path
    default: ""
  tags:
    description:
      - Tags of the repository (M(community.aws.ecs_ecr) cannot tag). V(None) leaves the tags alone.
    type: dict
    aliases: ['resource_tags']
  purge_tags:
    description: Remove tags that are not in O(tags). Only applies when O(tags) is given.
    type: bool
    default: true
  storage_root:
    description: Root of buildah's image storage. Empty is buildah's default (C(/var/lib/containers/storage)).
    type: path
    default: ""
  timeout:
    description: Seconds a build or a push may take.
    type: int
    default: 1800
notes:
  - Supports check mode (reports a change when the image is missing, builds and pushes nothing) and diff mode
    (the repository's tags and the image's content tag).
  - Needs C(buildah) (and C(debootstrap) for O(debian_base)) on the controller.
  - The content hash covers the inputs named here, not what the Dockerfile downloads while it builds.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Build the web app image and push it
  taskmanager.aws.ecr_image:
    repository: taskmanager/webapp
    dockerfile: webapp/deploy/Dockerfile
    files:
      - .build/dist/taskmanager_webapp-1.0.0-py3-none-any.whl
      - webapp/requirements.txt
    debian_base:
      packages: [python3, python3-pip, python-is-python3, ca-certificates]
      environment:
        PIP_BREAK_SYSTEM_PACKAGES: "1"
  register: image

- name: Use it by digest
  ansible.builtin.debug:
    msg: "{{ image.image }}"
"""

RETURN = r"""
image:
  description: The image by digest, C(<repositoryUri>@sha256:...).
  returned: always
  type: str
  sample: 123456789012.dkr.ecr.eu-north-1.amazonaws.com/taskmanager/webapp@sha256:4f1c...
repository_uri:
  description: The URI of the repository.
  returned: always
  type: str
tag:
  description: The content tag, C(src-) and the first 20 hex digits of the content hash.
  returned: always
  type: str
  sample: src-3b0c5e1f9a7d2c4e6b8a
digest:
  description: The digest of the image's manifest (empty in check mode when the image is not pushed yet).
  returned: always
  type: str
built:
  description: Whether the image was built (and pushed) by this run.
  returned: always
  type: bool
tags:
  description: The tags of the repository after the change.
  returned: always
  type: dict
  sample: {"Project": "taskmanager"}
seconds:
  description: Seconds spent building the base, building the image and pushing it (zero when not done).
  returned: always
  type: dict
  sample: {"base": 0, "build": 41.2, "push": 12.9}
"""

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.taskmanager.aws.plugins.module_utils.ecr_api import (
    describe_repository,
    get_authorization_token,
    list_tags,
    tag_resource,
    untag_resource,
)
from ansible_collections.taskmanager.aws.plugins.module_utils.errors import AnsibleTaskmanagerAWSError

MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)
BASE_NAME = "localhost/taskmanager-debian-base"


def content_hash(dockerfile, files, base):
    digest = hashlib.sha256()
    digest.update(json.dumps(base, sort_keys=True).encode())
    for name, path in [("Dockerfile", dockerfile)] + [(os.path.basename(f), f) for f in files]:
        digest.update(name.encode() + b"\0")
        with open(path, "rb") as handle:
            digest.update(hashlib.sha256(handle.read()).digest())
    return digest.hexdigest()


def ensure_tags(ecr, module, arn, wanted, purge):
    """Tag the repository as wanted; returns (changed, tags after, tags before)."""
    current = list_tags(ecr, arn)
    if wanted is None:
        return False, current, current
    wanted = {str(k): str(v) for k, v in wanted.items()}
    add = {k: v for k, v in wanted.items() if current.get(k) != v}
    remove = [k for k in current if k not in wanted] if purge else []
    if not module.check_mode:
        if add:
            tag_resource(ecr, arn, add)
        if remove:
            untag_resource(ecr, arn, remove)
    after = {k: v for k, v in {**current, **add}.items() if k not in remove}
    return bool(add or remove), after, current


def registry_digest(endpoint, token, name, reference):
    """The digest of <name>:<reference> in the registry, or None when it is not there."""
    request = urllib.request.Request(  # noqa: S310 - the registry's own endpoint (http or https)
        f"{endpoint.rstrip('/')}/v2/{name}/manifests/{reference}",
        method="HEAD",
        headers={"Accept": MANIFEST_TYPES, "Authorization": f"Basic {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - the registry's own endpoint
            return answer.headers.get("Docker-Content-Digest") or ""
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return None
        raise


class Buildah:
    def __init__(self, module, storage_root, timeout):
        self.module = module
        self.timeout = timeout
        self.binary = module.get_bin_path("buildah", required=True)
        self.global_args = ["--storage-driver", "vfs"] + (["--root", storage_root] if storage_root else [])

    def run(self, *args, check=True):
        command = [self.binary, *self.global_args, *args]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=self.timeout, check=False)
        except subprocess.TimeoutExpired:
            self.module.fail_json(msg=f"buildah {args[0]} took more than {self.timeout} s (timeout)", cmd=command)
        if check and done.returncode != 0:
            self.module.fail_json(
                msg=f"buildah {args[0]} failed: {done.stderr.strip()[-2000:]}", cmd=command, rc=done.returncode
            )
        return done

    def has_image(self, name):
        return self.run("images", "--quiet", name, check=False).returncode == 0


def debian_base_image(module, buildah, recipe):
    """The Debian base, built once per recipe; returns (image name, seconds spent)."""
    name = f"{BASE_NAME}:{hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:20]}"
    if buildah.has_image(name):
        return name, 0.0
    started = time.monotonic()
    debootstrap = module.get_bin_path("debootstrap", required=True)
    work = tempfile.mkdtemp(prefix="debian-base-")
    container = None
    try:
        rootfs = os.path.join(work, "rootfs")
        command = [debootstrap, "--variant=minbase"]
        if recipe["packages"]:
            command.append("--include=" + ",".join(recipe["packages"]))
        command += [recipe["suite"], rootfs, recipe["mirror"]]
        done = subprocess.run(command, capture_output=True, text=True, timeout=buildah.timeout, check=False)
        if done.returncode != 0:
            module.fail_json(msg=f"debootstrap failed: {(done.stdout + done.stderr).strip()[-2000:]}", cmd=command)
        for leftover in ("var/lib/apt/lists", "var/cache/apt/archives"):
            for entry in os.listdir(os.path.join(rootfs, leftover)):
                path = os.path.join(rootfs, leftover, entry)
                if os.path.isfile(path):
                    os.unlink(path)
        container = buildah.run("from", "scratch").stdout.strip()
        mount = buildah.run("mount", container).stdout.strip()
        done = subprocess.run(["cp", "-a", rootfs + "/.", mount + "/"], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            module.fail_json(msg=f"copying the Debian root file system failed: {done.stderr.strip()}")
        buildah.run("umount", container)
        config = []
        for key, value in sorted(recipe["environment"].items()):
            config += ["--env", f"{key}={value}"]
        buildah.run("config", *config, "--cmd", "/bin/bash", container)
        buildah.run("commit", "--rm", container, name)
        container = None
    finally:
        if container:
            buildah.run("rm", container, check=False)
        shutil.rmtree(work, ignore_errors=True)
    return name, time.monotonic() - started


def main():
    argument_spec = {
        "repository": {"type": "str", "required": True},
        "registry_id": {"type": "str"},
        "dockerfile": {"type": "path", "required": True},
        "files": {"type": "list", "elements": "path", "required": True},
        "base_image": {"type": "str", "default": ""},
        "debian_base": {
            "type": "dict",
            "options": {
                "suite": {"type": "str", "default": "bookworm"},
                "mirror": {"type": "str", "default": "http://deb.debian.org/debian"},
                "packages": {"type": "list", "elements": "str", "default": []},
                "environment": {"type": "dict", "default": {}},
            },
        },
        "ca_bundle": {"type": "path", "default": ""},
        "tags": {"type": "dict", "aliases": ["resource_tags"]},
        "purge_tags": {"type": "bool", "default": True},
        "storage_root": {"type": "path", "default": ""},
        "timeout": {"type": "int", "default": 1800},
    }
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    for path in [params["dockerfile"], *params["files"]]:
        if not os.path.isfile(path):
            module.fail_json(msg=f"{path} does not exist (a build input of the image)")
    recipe = params["debian_base"]
    if recipe is not None:
        recipe = {**recipe, "environment": {k: str(v) for k, v in recipe["environment"].items()}}
    base = {"debian": recipe} if recipe is not None else {"from": params["base_image"]}
    tag = "src-" + content_hash(params["dockerfile"], params["files"], base)[:20]

    ecr = module.client("ecr", retry_decorator=AWSRetry.jittered_backoff())
    try:
        repository = describe_repository(ecr, params["repository"], params["registry_id"])
        if repository is None and module.check_mode:
            module.exit_json(
                changed=True, image="", repository_uri="", tag=tag, digest="", built=False, tags={}, seconds={}
            )
        if repository is None:
            module.fail_json(msg=f"ECR repository {params['repository']} does not exist")
        token, endpoint = get_authorization_token(ecr, params["registry_id"])
        tags_changed, tags, tags_before = ensure_tags(
            ecr, module, repository["repositoryArn"], params["tags"], params["purge_tags"]
        )
    except AnsibleTaskmanagerAWSError as e:
        module.fail_json_aws_error(e)
    uri = repository["repositoryUri"]
    name = uri.split("/", 1)[1]
    seconds = {"base": 0.0, "build": 0.0, "push": 0.0}
    try:
        digest = registry_digest(endpoint, token, name, tag)
    except (urllib.error.URLError, OSError) as e:
        module.fail_json(msg=f"Couldn't reach the registry of {uri} at {endpoint}: {e}")

    def done(changed, digest, built):
        module.exit_json(
            changed=changed or tags_changed,
            image=f"{uri}@{digest}" if digest else "",
            repository_uri=uri,
            tag=tag,
            digest=digest,
            built=built,
            tags=tags,
            seconds={k: round(v, 1) for k, v in seconds.items()},
            diff={
                "before": {"tags": tags_before, "image": tag if not changed else ""},
                "after": {"tags": tags, "image": tag},
            },
        )

    if digest is not None:
        done(False, digest, False)
    if module.check_mode:
        done(True, "", False)

    buildah = Buildah(module, params["storage_root"], params["timeout"])
    from_args = []
    if recipe is not None:
        base_name, seconds["base"] = debian_base_image(module, buildah, recipe)
        from_args = ["--from", base_name]
    elif params["base_image"]:
        from_args = ["--from", params["base_image"]]
    local = f"localhost/{name}:{tag}"
    context = tempfile.mkdtemp(prefix="image-context-")
    try:
        for path in params["files"]:
            shutil.copy(path, os.path.join(context, os.path.basename(path)))
        volumes = []
        if params["ca_bundle"]:
            volumes = ["--volume", f"{params['ca_bundle']}:/etc/ssl/certs/ca-certificates.crt:ro"]
        # An image of this content built earlier (for another registry, or a push that failed) is reused.
        if not buildah.has_image(local):
            started = time.monotonic()
            buildah.run(
                "build", "--isolation", "chroot", "--pull-never" if from_args else "--pull", *from_args,
                "--label", f"org.opencontainers.image.version={tag}", *volumes,
                "-f", params["dockerfile"], "-t", local, context,
            )  # fmt: skip
            seconds["build"] = time.monotonic() - started
        # The token is base64("AWS:<password>"), the "auth" of a containers auth file (kept off the command line).
        auth_file = os.path.join(context, "auth.json")
        with os.fdopen(os.open(auth_file, os.O_WRONLY | os.O_CREAT, 0o600), "w", encoding="utf-8") as handle:
            json.dump({"auths": {uri.split("/", 1)[0]: {"auth": token}}}, handle)
        digest_file = os.path.join(context, "digest")
        started = time.monotonic()
        buildah.run(
            "push", "--authfile", auth_file, f"--tls-verify={str(endpoint.startswith('https')).lower()}",
            "--digestfile", digest_file, local, f"docker://{uri}:{tag}",
        )  # fmt: skip
        seconds["push"] = time.monotonic() - started
        with open(digest_file, encoding="utf-8") as handle:
            digest = handle.read().strip()
    finally:
        shutil.rmtree(context, ignore_errors=True)
    done(True, digest, True)


if __name__ == "__main__":
    main()
