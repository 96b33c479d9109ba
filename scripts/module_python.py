"""module-python: the controller's Python for Ansible's modules, each run forked from a warm one.

Every task of the AWS roles runs a Python module on the controller (connection local). A plain
``python`` pays about 0.4 s of CPU per run before the module's first AWS call: it imports boto3,
botocore and Ansible's module_utils again, and compiles the collections' module_utils out of the
module's zip. ``make venv`` installs this file as ``.venv/bin/module-python`` (its first line names
the venv's python), and the inventories' ``taskmanager_controller_python`` picks it when it is
there. It behaves as that python does, and forwards each pipelined module run (the module's code on
stdin, no argument: ``ansible.cfg`` pipelines) to a server that imported those libraries once,
parsed the AWS services' models once (botocore), and forks a child per run:

- the child gets the run's stdin, stdout and stderr (passed over a Unix socket), its environment
  and working folder, and ends as ``python`` would (exit code, traceback, ``atexit``);
- a module whose zip holds another version of a library the server imported (the zip's CRC-32
  differs from the file's) runs with none of the server's Ansible imports: as from a plain python;
- the server's heap is frozen out of the garbage collector (``gc.freeze``): a run's collections do
  not walk it, so its pages stay shared with the run instead of being copied into it;
- the server lives as long as the ``ansible-playbook`` (or ``ansible``) process that started it,
  and stops within a second after it, or after five idle minutes;
- the first run starts the server, which listens before it imports (the runs that come meanwhile
  wait in its queue), and hands itself to it like the others;
- anything else (arguments, such as a module file to run; no ansible process above; a server
  that does not come) runs the plain python in its place (``exec``).

One server per ansible process, Python and Python environment (``PYTHON*``, locale), in a folder
of the user's only (``$TMPDIR/taskmanager-module-python-<uid>``, ``/tmp`` without ``TMPDIR``).
"""

import contextlib
import os
import socket
import sys

SERVE = "--serve"
# What the server imports once. The collections' module_utils are imported whole (the modules pick
# from them); boto3 and botocore come with them.
PRELOAD_MODULES = ("ansible.module_utils.basic", "ansible.module_utils._internal._ansiballz._loader")
PRELOAD_PACKAGES = (
    "ansible_collections.amazon.aws.plugins.module_utils",
    "ansible_collections.community.aws.plugins.module_utils",
)
# The AWS services whose clients the server makes once, unused, so that botocore has parsed their
# models and the files every client needs (endpoints, partitions, defaults) before any run: a run's
# first client otherwise parses them again, 0.1 s of CPU or more (share_botocore_models).
WARM_SERVICES = ("ec2", "elbv2", "autoscaling", "ecs", "ecr", "iam", "rds", "s3", "ssm", "logs", "sts")
# Environment that shapes an interpreter at its start: runs that differ in it get their own server.
STARTUP_ENV = ("LANG", "LC_ALL", "LC_CTYPE")
# The packages' __init__ files that a module's zip holds as stubs of its own.
ANSIBALLZ_STUBS = ("ansible/__init__.py", "ansible/module_utils/__init__.py")
# A Unix socket's path holds 108 bytes on Linux; a longer TMPDIR means no server.
SOCKET_PATH_MAX = 100
OWNER_POLL = 1.0
# How long the run that starts the server waits for its socket (it binds before any import).
START_WAIT = 5.0
IDLE_LIMIT = 300.0


def plain_python():
    """Run the plain python in this process's place, with the same arguments and stdin."""
    os.execv(sys.executable, [sys.executable, *sys.argv[1:]])  # noqa: S606 - python, in this one's place


def _proc(pid):
    """(parent pid, command line) of a process, or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
    except OSError:
        return None
    return int(stat[stat.rindex(b")") + 2 :].split()[1]), cmdline


def ansible_owner(pid):
    """The ansible process this run belongs to: the first ancestor whose command names ansible,
    followed up through its forks (the task workers share the command of the main process)."""
    for _depth in range(8):
        proc = _proc(pid)
        if proc is None or pid <= 1:
            return None
        parent, cmdline = proc
        if any(os.path.basename(arg).startswith(b"ansible") for arg in cmdline.split(b"\0")[:2]):
            while True:
                above = _proc(parent)
                if above is None or above[1] != cmdline:
                    return pid
                pid, parent = parent, above[0]
        pid = parent
    return None


def socket_path(owner):
    """The server's socket for this owner, Python and start-up environment, or None (a folder
    another user could enter, or a path too long for a Unix socket)."""
    import tempfile
    import zlib

    folder = os.path.join(tempfile.gettempdir(), f"taskmanager-module-python-{os.getuid()}")
    with contextlib.suppress(FileExistsError):
        os.mkdir(folder, 0o700)
    info = os.lstat(folder)
    if info.st_uid != os.getuid() or info.st_mode & 0o077 or not os.path.isdir(folder):
        return None
    env = sorted((k, v) for k, v in os.environ.items() if k.startswith("PYTHON") or k in STARTUP_ENV)
    key = zlib.crc32(repr((sys.executable, sys.flags, env)).encode())
    path = os.path.join(folder, f"{owner}-{key:08x}.sock")
    return path if len(path) < SOCKET_PATH_MAX else None


def _recv_exact(conn, size):
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def client():
    owner = ansible_owner(os.getppid()) if len(sys.argv) == 1 else None
    path = owner and socket_path(owner)
    if not path:
        plain_python()
    code = handoff(path)
    if code is None:
        # No server yet (or one that went away before it took the run): start one and hand it
        # this run; the plain python runs it when none takes it. No server read stdin.
        start_server(path, owner)
        code = handoff(path)
        if code is None:
            plain_python()
    sys.exit(code)


def handoff(path):
    """Run this process's stdin script in a child of the server at path, with this process's
    stdio, environment and folder; return its exit code, or None when no server took the run."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
        env = b"\0".join(k + b"=" + v for k, v in os.environb.items())
        request = os.getcwd().encode() + b"\0\0" + env
        socket.send_fds(conn, [len(request).to_bytes(8, "big") + request], [0, 1, 2])
        pid = _recv_exact(conn, 8)
    except OSError:
        pid = None
    if pid is None:
        conn.close()
        return None
    forward_signals(int.from_bytes(pid, "big"))
    code = _recv_exact(conn, 4)
    return int.from_bytes(code, "big", signed=True) if code else 1


def handoff_probe(path):
    """True when a server listens at path."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
    except OSError:
        return False
    finally:
        conn.close()
    return True


def forward_signals(pid):
    import signal

    def forward(signum, _frame):
        with contextlib.suppress(OSError):
            os.kill(pid, signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(signum, forward)


def start_server(path, owner):
    """Start the server, detached (its own session, stdio on /dev/null), and return when its
    socket is there (it listens before it imports; runs wait in its queue), or after START_WAIT."""
    import time

    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            server = [sys.executable, os.path.abspath(__file__), SERVE, path, str(owner)]
            os.execv(sys.executable, server)  # noqa: S606 - this file, as the server
        os._exit(0)
    os.wait()
    deadline = time.monotonic() + START_WAIT
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.01)


def preload():
    """Import what the modules use. Return the CRC-32 of each Ansible file imported, by its path in
    a module's zip, and the folders they came from."""
    import importlib
    import pkgutil

    for name in PRELOAD_MODULES:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    for name in PRELOAD_PACKAGES:
        try:
            package = importlib.import_module(name)
        except ImportError:
            continue
        for info in pkgutil.iter_modules(package.__path__):
            quiet_import(f"{name}.{info.name}")
    with contextlib.suppress(Exception):
        share_botocore_models()
    from ansible.module_utils.ansible_release import __version__

    crcs, roots = {"__version__": __version__}, set()
    for name, module in list(sys.modules.items()):
        origin = getattr(module, "__file__", None)
        if origin and name.split(".")[0] in ("ansible", "ansible_collections"):
            relative = name.replace(".", "/") + ("/__init__.py" if origin.endswith("__init__.py") else ".py")
            if origin.endswith(relative):
                roots.add(origin[: -len(relative)])
                crcs[relative] = file_crc(origin)
    return crcs, tuple(roots)


def share_botocore_models():
    """Give the botocore sessions of every run one data loader per data path, the server's, with
    the models of WARM_SERVICES already parsed. botocore shares a loader's parsed models between the
    clients of one session; here the runs' sessions share them too. Each run is a fork, so nothing a
    run loads reaches another."""
    import botocore.loaders
    import botocore.session

    create_loader = botocore.loaders.create_loader
    loaders = {}

    def shared_loader(search_path_string=None):
        if search_path_string not in loaders:
            loaders[search_path_string] = create_loader(search_path_string)
        return loaders[search_path_string]

    botocore.session.create_loader = shared_loader
    session = botocore.session.Session()
    # Keys of its own: a client made with them resolves no credentials and calls nothing.
    keys = {"aws_access_key_id": "warm", "aws_secret_access_key": "warm"}
    for service in WARM_SERVICES:
        with contextlib.suppress(Exception):
            session.create_client(service, region_name="us-east-1", **keys)


def quiet_import(name):
    """Import a module_utils file unless it cannot be imported, or importing it records a warning
    or a deprecation (Ansible returns those with the result of every module run after it): then
    leave it, and what it imported, to the runs of the modules that import it themselves."""
    import importlib

    from ansible.module_utils.common import warnings

    stores = [getattr(warnings, store, None) for store in ("_global_warnings", "_global_deprecations")]
    stores = [store for store in stores if isinstance(store, dict)]
    before, recorded = set(sys.modules), [dict(store) for store in stores]
    try:
        importlib.import_module(name)
        if all(store == kept for store, kept in zip(stores, recorded, strict=True)):
            return
    except Exception:  # noqa: S110, BLE001 - a module_utils file the modules cannot import either
        pass
    for added in set(sys.modules) - before:
        del sys.modules[added]
    for store, kept in zip(stores, recorded, strict=True):
        store.clear()
        store.update(kept)


def file_crc(path):
    import zlib

    with open(path, "rb") as f:
        return zlib.crc32(f.read())


def serve(path, owner):
    import fcntl
    import gc
    import signal
    import time

    lock = open(path + ".lock", "w")  # noqa: SIM115 - held for the server's life
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return  # another server has this socket
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if os.path.exists(path):
        os.unlink(path)  # a server that died left it; the lock says none serves it
    listener.bind(path)
    listener.listen(64)  # the runs that come while it imports wait here
    try:
        known = preload()
    except Exception:  # noqa: BLE001 - serve anyway: every run then imports Ansible itself
        known = None
    # What the server holds is the runs' to read: out of the garbage collector's sight, a run's
    # collections do not walk it, and so do not copy every page of it into the run (copy on write).
    gc.freeze()
    listener.settimeout(OWNER_POLL)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the runs' exit codes reach their clients
    last = time.monotonic()
    while True:
        try:
            conn, _address = listener.accept()
        except TimeoutError:
            try:
                os.kill(owner, 0)
            except ProcessLookupError:
                break
            if time.monotonic() - last > IDLE_LIMIT:
                break
            continue
        last = time.monotonic()
        conn.settimeout(None)
        try:
            message, fds, _flags, _addr = socket.recv_fds(conn, 65536, 3)
            size = int.from_bytes(message[:8], "big")
            while len(message) < size + 8:
                chunk = conn.recv(size + 8 - len(message))
                if not chunk:
                    raise OSError("the client went away")
                message += chunk
        except (OSError, ValueError):
            conn.close()
            continue
        if len(fds) != 3:
            for fd in fds:
                os.close(fd)
            conn.close()
            continue
        pid = os.fork()
        if pid == 0:
            listener.close()
            lock.close()
            run(conn, fds, message[8:], known)  # ends the process
        for fd in fds:
            os.close(fd)
        with contextlib.suppress(OSError):
            conn.sendall(pid.to_bytes(8, "big"))
        conn.close()
    os.unlink(path)
    os.unlink(path + ".lock")


def zip_mismatch(source, known):
    """True when the module's zip holds another version of a file the server's imports would give
    in its place: one it imported, or one beside them (the module itself, say)."""
    import base64
    import io
    import re
    import zipfile

    if known is None:
        return True
    crcs, roots = known
    match = re.search(rb"zip_data='([A-Za-z0-9+/=]*)'", source) or re.search(rb'zip_data="([A-Za-z0-9+/=]*)"', source)
    if match is None:
        return True
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(match.group(1)))) as archive:
        for info in archive.infolist():
            if info.filename in ANSIBALLZ_STUBS:
                # Package stubs the zip is built with (pkgutil.extend_path), not the files: the
                # version that wrote them is the one to compare.
                stub = archive.read(info).decode()
                if f'__version__="{crcs["__version__"]}"' not in stub and "__version__" in stub:
                    return True
                continue
            crc = crcs.get(info.filename)
            if crc is None:
                local = [os.path.join(root, info.filename) for root in roots]
                crc = next((file_crc(path) for path in local if os.path.isfile(path)), info.CRC)
            if crc != info.CRC:
                return True
    return False


class CollectionFinder:
    """Finds ``ansible_collections.<namespace>`` packages on sys.path (the module's zip) that the
    server's namespace package, imported before the zip was on sys.path, does not list."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        from importlib.machinery import PathFinder

        parts = name.split(".")
        if len(parts) != 2 or parts[0] != "ansible_collections":
            return None
        return PathFinder.find_spec(name, [os.path.join(entry, "ansible_collections") for entry in sys.path if entry])


def run(conn, fds, request, known):
    """The child: become the client's python reading its script from stdin, then exit."""
    import atexit
    import signal
    import types

    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    cwd, _sep, env = request.partition(b"\0\0")
    os.environ.clear()
    for item in env.split(b"\0"):
        key, _sep, value = item.partition(b"=")
        if key:
            os.environb[key] = value
    os.chdir(cwd)
    sys.argv = [""]
    sys.path[0] = ""
    code = [1]

    def report():
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        with contextlib.suppress(OSError):
            conn.sendall(code[0].to_bytes(4, "big", signed=True))

    atexit.register(report)
    source = sys.stdin.buffer.read()
    if zip_mismatch(source, known):
        for name in [n for n in sys.modules if n.split(".")[0] in ("ansible", "ansible_collections")]:
            del sys.modules[name]
    sys.meta_path.append(CollectionFinder)
    main = types.ModuleType("__main__")
    main.__file__ = "<stdin>"
    sys.modules["__main__"] = main
    try:
        exec(compile(source, "<stdin>", "exec"), main.__dict__)  # noqa: S102 - the module, as python runs it
        code[0] = 0
    except SystemExit as exit_:
        code[0] = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        raise
    except BaseException:
        import traceback

        traceback.print_exc()
        raise SystemExit(1) from None
    raise SystemExit(0)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == SERVE:
        serve(sys.argv[2], int(sys.argv[3]))
    else:
        client()


if __name__ == "__main__":
    main()
