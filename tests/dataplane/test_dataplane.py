# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The local data plane end to end: site.yml builds the EC2 fleet on the emulator, and real
HAProxy and web app processes serve it. Time is compressed 5x; the target group uses
interval 10 s, timeout 5 s and thresholds 2/2, i.e. 2 s / 1 s locally."""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from taskmanager_tests.emulator import start_local_aws

TIME_SCALE = 5.0
INTERVAL, TIMEOUT, HEALTHY, UNHEALTHY = 10, 5, 2, 2
# What an ALB needs to take a failed target out of rotation: unhealthy threshold x interval + timeout.
BUDGET = (UNHEALTHY * INTERVAL + TIMEOUT) / TIME_SCALE
SLACK = 1.5  # one reconcile pass and one HAProxy check of jitter


@dataclass
class Probe:
    """Bounded request loop through the load balancer: every answer and failure, timed."""

    url: str
    period: float = 0.05
    timeout: float = 1.0
    limit: float = 90.0
    results: list = field(default_factory=list)  # (start, end, instance id or None, error kind or None)

    def __post_init__(self):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self.started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=self.timeout + 2)

    def _run(self):
        deadline = time.monotonic() + self.limit
        while not self._stop.is_set() and time.monotonic() < deadline:
            start = time.monotonic()
            try:
                request = urllib.request.Request(self.url, headers={"Accept": "application/json"})  # noqa: S310
                with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310 - loopback URL
                    self.results.append((start, time.monotonic(), json.loads(answer.read())["instance_id"], None))
            except urllib.error.HTTPError as exc:
                self.results.append((start, time.monotonic(), None, f"HTTP {exc.code}"))
            except OSError as exc:
                self.results.append((start, time.monotonic(), None, type(exc).__name__))
            self._stop.wait(max(0.0, self.period - (time.monotonic() - start)))

    def failures(self) -> Counter:
        return Counter(result[3] for result in self.results if result[3])

    def report(self, label: str) -> str:
        ok = sum(1 for r in self.results if r[3] is None)
        return f"{label}: {len(self.results)} requests, {ok} answered, failed {dict(self.failures()) or 0}"


def instance_ids(local, group="TaskManagerASG") -> list[dict]:
    groups = local.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[group])
    return groups["AutoScalingGroups"][0]["Instances"]


def target_states(local) -> dict[str, str]:
    elbv2 = local.client("elbv2")
    arn = elbv2.describe_target_groups(Names=["TaskManagerTG"])["TargetGroups"][0]["TargetGroupArn"]
    return {
        d["Target"]["Id"]: d["TargetHealth"]["State"]
        for d in elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    }


def wait_for(predicate, timeout: float, what: str, step: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"not within {timeout:g} s: {what}")


def local_instance(local, instance_id: str) -> dict | None:
    return next((i for i in local.status().get("instances", []) if i["instance_id"] == instance_id), None)


@pytest.fixture(scope="module")
def stack():
    local = start_local_aws(int(os.environ.get("DATAPLANE_STACK_PORT", "5017")), dataplane=True, time_scale=TIME_SCALE)
    try:
        run = local.playbook(
            "site.yml",
            "-e",
            json.dumps(
                {
                    "taskmanager_build_ecs": False,
                    "autoscaling_desired_capacity": 2,
                    "alb_health_check_interval": INTERVAL,
                    "alb_health_check_timeout": TIMEOUT,
                    "alb_health_check_healthy_threshold": HEALTHY,
                    "alb_health_check_unhealthy_threshold": UNHEALTHY,
                    "autoscaling_healthy_delay": 1,
                }
            ),
        )
        assert run.rc == 0, run.output[-4000:]
        lb = local.client("elbv2").describe_load_balancers(Names=["TaskManagerALB"])["LoadBalancers"][0]
        local.alb_url = f"http://{lb['DNSName']}"
        local.converge_seconds = run.seconds
        local.runs = [run]  # every playbook run on this stack: no SecureString value may appear in one
        yield local
    finally:
        stopped = local.script("stop")
        print(stopped.stdout, stopped.stderr)


def test_site_yml_ends_with_a_serving_fleet(stack):
    """site.yml waited for healthy targets: every instance of the group is healthy through the API."""
    members = {i["InstanceId"] for i in instance_ids(stack)}
    assert len(members) == 2
    assert target_states(stack) == dict.fromkeys(members, "healthy")
    zones = {i["AvailabilityZone"] for i in instance_ids(stack)}
    assert zones == {"eu-north-1a", "eu-north-1b"}
    print(f"site.yml (fleet, time scale {TIME_SCALE:g}) converged and served in {stack.converge_seconds:.1f} s")


def test_a_request_through_the_alb_reaches_an_instance(stack):
    members = {i["InstanceId"]: i["AvailabilityZone"] for i in instance_ids(stack)}
    seen = Counter()
    for _request in range(20):
        with urllib.request.urlopen(stack.alb_url + "/instance", timeout=5) as answer:  # noqa: S310 - loopback
            text = answer.read().decode()
        assert text.startswith("Du er koblet til instans: i-")
        seen[text.split()[-1]] += 1
    assert set(seen) == set(members)  # round robin over both instances, IDs the emulator knows
    request = urllib.request.Request(stack.alb_url + "/instance", headers={"Accept": "application/json"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310
        identity = json.loads(answer.read())
    assert identity["kind"] == "ec2"  # read through the instance's IMDSv2 endpoint
    assert identity["availability_zone"] == members[identity["instance_id"]]
    with urllib.request.urlopen(stack.alb_url + "/", timeout=5) as answer:  # noqa: S310
        page = answer.read().decode()
    assert 'id="served-by"' in page and "i-" in page


# ---------------------------------------------------------------- the shared database (RDS as MariaDB)
def artifacts_bucket(local) -> str:
    return next(b["Name"] for b in local.client("s3").list_buckets()["Buckets"] if b["Name"].startswith("taskmanager"))


def db_status(local, identifier: str) -> str:
    described = local.client("rds").describe_db_instances(DBInstanceIdentifier=identifier)
    return described["DBInstances"][0]["DBInstanceStatus"]


def serving_addresses(local) -> list[str]:
    return sorted(i["address"] for i in local.status().get("instances", []) if i["state"] == "serving")


def call(url: str, method: str = "GET", data: bytes | None = None, headers: dict | None = None):
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - loopback URL
        return answer.status, answer.read()


def test_instances_share_one_database_and_one_attachment_store(stack):
    """A task created through one instance is read through the other; its attachment too (S3)."""
    first, second = serving_addresses(stack)[:2]
    title = f"shared {time.monotonic_ns()}"
    status, body = call(
        f"http://{first}/api/tasks", "POST", json.dumps({"title": title}).encode(), {"Content-Type": "application/json"}
    )
    assert status == 201
    task_id = json.loads(body)["id"]
    _status, listed = call(f"http://{second}/api/tasks?per_page=100")
    assert title in {item["title"] for item in json.loads(listed)["items"]}
    boundary = "taskmanagerboundary"
    upload = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="note.txt"\r\n'
        f"Content-Type: text/plain\r\n\r\nwritten through {second}\r\n--{boundary}--\r\n"
    ).encode()
    status, body = call(
        f"http://{second}/api/tasks/{task_id}/attachments",
        "POST",
        upload,
        {"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert status == 201, body
    attachment = json.loads(body)["id"]
    _status, content = call(f"http://{first}/api/tasks/{task_id}/attachments/{attachment}")
    assert content == f"written through {second}".encode()
    bucket = artifacts_bucket(stack)
    keys = [o["Key"] for o in stack.client("s3").list_objects_v2(Bucket=bucket, Prefix="attachments/")["Contents"]]
    assert any(key.startswith(f"attachments/tasks/{task_id}/") for key in keys)
    # The app reached the database through its RDS endpoint, served by the data plane's MariaDB.
    db = stack.client("rds").describe_db_instances(DBInstanceIdentifier="taskmanager-db")["DBInstances"][0]
    served = next(d for d in stack.status()["databases"] if d["identifier"] == "taskmanager-db")
    assert served["endpoint"] == f"{db['Endpoint']['Address']}:{db['Endpoint']['Port']}"
    assert served["state"] == "available" and db["DBInstanceStatus"] == "available" and db["MultiAZ"]
    url = f"DATABASE_URL=mysql+pymysql://taskmanager@{served['endpoint']}/taskmanager"
    env = Path(stack.state_dir / "dataplane/instances").glob("*/etc/taskmanager/taskmanager.env")
    assert any(url in e.read_text() for e in env)


def test_the_instance_role_may_write_exactly_the_attachments_prefix(stack):
    iam = stack.client("iam")
    document = iam.get_role_policy(RoleName="TaskManagerInstanceRole", PolicyName="TaskManagerAppAccess")
    statements = {s["Sid"]: s for s in document["PolicyDocument"]["Statement"]}
    bucket = artifacts_bucket(stack)
    writes = [s for s in statements.values() if any(a in ("s3:PutObject", "s3:*") for a in s["Action"])]
    assert writes == [statements["WriteAppAttachments"]]
    assert sorted(writes[0]["Action"]) == ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"]
    assert writes[0]["Resource"] == [f"arn:aws:s3:::{bucket}/attachments/*"]
    assert statements["ReadAppArtifacts"]["Action"] == ["s3:GetObject"]


def test_an_rds_instance_is_a_mariadb_server_with_its_master_password(stack):
    """Create, change the password, delete: through the RDS API only, against the real server."""
    import pymysql

    rds = stack.client("rds")
    password, changed = f"first-{os.getpid()}-pw", f"second-{os.getpid()}-pw"
    rds.create_db_instance(
        DBInstanceIdentifier="scratch-db",
        Engine="mysql",
        DBInstanceClass="db.t3.micro",
        AllocatedStorage=20,
        MasterUsername="scratch",
        MasterUserPassword=password,
        DBName="scratchdb",
    )

    def connect(secret):
        db = rds.describe_db_instances(DBInstanceIdentifier="scratch-db")["DBInstances"][0]
        address, port = db["Endpoint"]["Address"], db["Endpoint"]["Port"]
        return pymysql.connect(host=address, port=port, user="scratch", password=secret, database="scratchdb")

    try:
        # Creating until the server answers (mariadb-install-db alone takes longer than this call).
        assert db_status(stack, "scratch-db") == "creating"
        wait_for(lambda: db_status(stack, "scratch-db") == "available", 60, "scratch-db to be available")
        db = rds.describe_db_instances(DBInstanceIdentifier="scratch-db")["DBInstances"][0]
        assert db["Endpoint"]["Address"].startswith(f"127.{stack.port % 250 + 1}.252.")
        with connect(password) as connection, connection.cursor() as cursor:
            cursor.execute("SELECT DATABASE()")
            assert cursor.fetchone() == ("scratchdb",)
        with pytest.raises(pymysql.err.OperationalError, match="1045"):
            connect(changed)
        rds.modify_db_instance(DBInstanceIdentifier="scratch-db", MasterUserPassword=changed, ApplyImmediately=True)

        def new_password_works():
            try:
                connect(changed).close()
                return True
            except pymysql.err.OperationalError:
                return False

        wait_for(new_password_works, 10, "the changed password to be applied")
        with pytest.raises(pymysql.err.OperationalError, match="1045"):
            connect(password)
        pid = next(d["pid"] for d in stack.status()["databases"] if d["identifier"] == "scratch-db")
        assert pid
    finally:
        rds.delete_db_instance(DBInstanceIdentifier="scratch-db", SkipFinalSnapshot=True)
    wait_for(lambda: all(d["identifier"] != "scratch-db" for d in stack.status()["databases"]), 10, "the server to go")
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not (stack.state_dir / "dataplane/rds/scratch-db").exists()


def test_a_frozen_az_leaves_rotation_within_the_health_check_budget(stack):
    members = {i["InstanceId"]: i["AvailabilityZone"] for i in instance_ids(stack)}
    victim, zone = sorted(members.items(), key=lambda kv: kv[1])[-1]
    with Probe(stack.alb_url + "/instance", limit=60) as probe:
        time.sleep(1.0)
        asked_at = time.monotonic()
        done = stack.script("freeze-az", zone)
        # The command returns once the data plane has frozen the AZ: the health-check budget
        # runs from there.
        frozen_at = time.monotonic()
        try:
            assert done.returncode == 0, done.stderr
            time.sleep(BUDGET + SLACK + 2)
        finally:
            thawed = stack.script("thaw-az", zone)
        assert thawed.returncode == 0, thawed.stderr
    # Detection: the last request that failed because it was sent to the frozen instance.
    survivors = [r for r in probe.results if frozen_at + BUDGET + SLACK < r[0] < frozen_at + BUDGET + SLACK + 2]
    assert survivors and all(r[3] is None for r in survivors), probe.report("after the budget")
    assert {r[2] for r in survivors} <= set(members) - {victim}
    failed = [r for r in probe.results if r[3] and frozen_at <= r[0] < frozen_at + BUDGET + SLACK + 2]
    detection = max((r[0] for r in failed), default=frozen_at) - frozen_at
    print(probe.report(f"AZ {zone} lost: detected after {detection:.2f} s (budget {BUDGET:g} s)"))
    assert detection <= BUDGET + SLACK
    assert all(r[3] is None for r in probe.results if r[1] < asked_at)


def test_a_stopped_instance_ends_leaves_rotation_and_is_replaced(stack):
    wait_for(lambda: set(target_states(stack).values()) == {"healthy"}, 30, "every target healthy again")
    members = {i["InstanceId"] for i in instance_ids(stack)}
    victim = sorted(members)[0]
    pid = local_instance(stack, victim)["pid"]
    assert pid
    with Probe(stack.alb_url + "/instance", limit=60) as probe:
        time.sleep(1.0)
        stopped_at = time.monotonic()
        stack.client("ec2").stop_instances(InstanceIds=[victim])

        def process_gone():
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            return False

        wait_for(process_gone, 2.0, f"{victim}'s processes to end", step=0.05)
        ended = time.monotonic() - stopped_at
        replacement = wait_for(
            lambda: next((r[2] for r in probe.results if r[2] and r[2] not in members), None),
            40,
            "a replacement instance to serve through the load balancer",
        )
        served_at = next(r[0] for r in probe.results if r[2] == replacement) - stopped_at
    last_victim = max((r[0] for r in probe.results if r[2] == victim), default=stopped_at) - stopped_at
    print(
        probe.report(
            f"{victim} stopped: processes ended in {ended:.2f} s, last answer {last_victim:.2f} s after the stop "
            f"(budget {BUDGET:g} s), replacement {replacement} in rotation after {served_at:.1f} s"
        )
    )
    assert last_victim <= BUDGET + SLACK
    assert replacement in {i["InstanceId"] for i in instance_ids(stack)}
    assert sum(probe.failures().values()) <= len(probe.results) * 0.1


def test_a_missing_secret_keeps_the_instance_unhealthy_with_a_clear_log_line(stack):
    ssm = stack.client("ssm")
    saved = ssm.get_parameter(Name="/taskmanager/secret_key", WithDecryption=True)["Parameter"]["Value"]
    ssm.delete_parameter(Name="/taskmanager/secret_key")
    try:
        members = {i["InstanceId"] for i in instance_ids(stack)}
        victim = sorted(members)[0]
        stack.client("autoscaling").terminate_instance_in_auto_scaling_group(
            InstanceId=victim, ShouldDecrementDesiredCapacity=False
        )
        fresh = wait_for(
            lambda: next((i["InstanceId"] for i in instance_ids(stack) if i["InstanceId"] not in members), None),
            10,
            "the Auto Scaling group to launch a replacement",
        )
        booted = wait_for(
            lambda: (local_instance(stack, fresh) or {}).get("state") == "boot-failed" and local_instance(stack, fresh),
            20,
            f"{fresh} to fail its boot",
        )
        console = Path(booted["console"]).read_text(encoding="utf-8")
        assert (
            "ERROR: cannot read SSM parameter /taskmanager/secret_key for SECRET_KEY; not starting the web app"
            in console
        )
        assert saved not in console
        # Never healthy: well past the healthy threshold it is still out of rotation.
        deadline = time.monotonic() + (HEALTHY * INTERVAL + TIMEOUT) / TIME_SCALE + 3
        while time.monotonic() < deadline:
            assert target_states(stack).get(fresh) in ("initial", "unhealthy")
            time.sleep(0.5)
        with Probe(stack.alb_url + "/instance", limit=5, period=0.02) as probe:
            time.sleep(2)
        assert fresh not in {r[2] for r in probe.results}
        assert not probe.failures(), probe.report("with one instance failing its boot")
    finally:
        ssm.put_parameter(Name="/taskmanager/secret_key", Value=saved, Type="SecureString", Overwrite=True)


def test_a_wrong_database_password_fails_site_yml_naming_the_cause(stack):
    """The database's password no longer matches the parameter: new instances cannot migrate, and
    site.yml's wait fails naming the targets and the console output's 'Access denied'. Put back,
    the fleet serves again and `--check` reports no change. No SecureString value in any output.
    The group was also changed out of band, so site.yml updates it: amazon.aws.autoscaling_group's
    own wait (autoscaling_wait_timeout, 600 s) must not stand before the role's, which names the cause."""
    ssm, rds, autoscaling = stack.client("ssm"), stack.client("rds"), stack.client("autoscaling")
    right = ssm.get_parameter(Name="/taskmanager/db_password", WithDecryption=True)["Parameter"]["Value"]
    rds.modify_db_instance(
        DBInstanceIdentifier="taskmanager-db", MasterUserPassword="Rotated0ut0fband", ApplyImmediately=True
    )
    try:
        members = {i["InstanceId"] for i in instance_ids(stack)}
        for instance_id in members:
            stack.client("autoscaling").terminate_instance_in_auto_scaling_group(
                InstanceId=instance_id, ShouldDecrementDesiredCapacity=False
            )
        wait_for(
            lambda: len({i["InstanceId"] for i in instance_ids(stack)} - members) == 2,
            20,
            "two replacements",
        )
        autoscaling.update_auto_scaling_group(AutoScalingGroupName="TaskManagerASG", MaxSize=4)
        run = stack.playbook(
            "site.yml",
            "--tags",
            "fleet",  # the foundation is looked up, not converged again; the --check below reads it all
            "-e",
            json.dumps(
                {"taskmanager_build_ecs": False, "autoscaling_healthy_timeout": 15, "autoscaling_healthy_delay": 1}
            ),
            timeout=300,
        )
        stack.runs.append(run)
        assert run.rc != 0
        assert "TaskManagerASG differs in: max_size" in run.output, run.output[-3000:]
        assert "Waited too long" not in run.output, run.output[-3000:]
        message = next(line for line in run.output.splitlines() if "The fleet does not serve" in line)
        assert "Access denied for user 'taskmanager'" in message, message
        assert "Console output of i-" in message
        group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["TaskManagerASG"])
        assert group["AutoScalingGroups"][0]["MaxSize"] == 3, "site.yml did not put the group back"
        print(f"site.yml with the wrong password and a group to update failed in {run.seconds:.1f} s")
    finally:
        rds.modify_db_instance(DBInstanceIdentifier="taskmanager-db", MasterUserPassword=right, ApplyImmediately=True)
    wait_for(
        lambda: len(serving_addresses(stack)) == 2 and set(target_states(stack).values()) == {"healthy"},
        60,
        "the fleet to serve again with the right password",
    )
    check = stack.playbook("site.yml", "--check", "-e", json.dumps({"taskmanager_build_ecs": False}))
    stack.runs.append(check)
    assert check.rc == 0 and check.changed == 0, check.output[-3000:]
    print(f"site.yml --check on the converged stack (database included): {check.seconds:.1f} s, changed=0")


def test_a_new_launch_template_version_rolls_out_by_instance_refresh_while_the_fleet_serves(stack):
    """A change of the instances' configuration is a new launch template version; site.yml starts an
    instance refresh (one instance at a time: 90 % of two must stay in service) and ends when it is
    Successful, every instance on the new version; the load balancer answers all along. The
    instances are protected from scale in (autoscaling_scale_in_protection): the role lifts the
    protection of the outdated ones, which the refresh would otherwise wait an hour for, and
    protects the new ones."""
    # Last of the tests that run site.yml on this stack: the version it rolls out (its extra
    # environment) stays. An instance that failed its boot in a test before is replaced by the
    # group's ELB health check after its grace period (60 s at time scale 5).
    wait_for(
        lambda: list(target_states(stack).values()) == ["healthy", "healthy"],
        180,
        "the fleet back to two healthy targets",
        step=1.0,
    )
    autoscaling = stack.client("autoscaling")
    before = {i["InstanceId"] for i in instance_ids(stack)}
    autoscaling.set_instance_protection(
        InstanceIds=sorted(before), AutoScalingGroupName="TaskManagerASG", ProtectedFromScaleIn=True
    )
    extra = {
        "taskmanager_build_ecs": False,
        "launch_template_webapp_environment": {"TASKMANAGER_RELEASE_NOTE": "rolled out by instance refresh"},
        "autoscaling_instance_refresh_warmup": 15,  # 3 s at time scale 5
        "autoscaling_healthy_delay": 1,
        "autoscaling_healthy_timeout": 300,
        "autoscaling_scale_in_protection": True,
    }
    with Probe(stack.alb_url + "/instance", limit=240) as probe:
        run = stack.playbook("site.yml", "--tags", "fleet", "-e", json.dumps(extra))
    stack.runs.append(run)
    assert run.rc == 0, run.output[-4000:]
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["TaskManagerASG"])["AutoScalingGroups"][0]
    version = group["LaunchTemplate"]["Version"]
    after = {i["InstanceId"]: i["LaunchTemplate"]["Version"] for i in group["Instances"]}
    assert not before & set(after), f"instances of the old version remain: {before & set(after)}"
    assert set(after.values()) == {version} and len(after) == 2, after
    unprotected = [i["InstanceId"] for i in group["Instances"] if not i["ProtectedFromScaleIn"]]
    assert not unprotected, f"new instances without scale-in protection: {unprotected}"
    refresh = autoscaling.describe_instance_refreshes(AutoScalingGroupName="TaskManagerASG")["InstanceRefreshes"][0]
    assert (refresh["Status"], refresh["PercentageComplete"]) == ("Successful", 100), refresh
    served = {r[2] for r in probe.results if r[2]}
    assert set(after) <= served, "a new instance never answered through the load balancer"
    print(probe.report(f"launch template version {version} rolled out in {run.seconds:.1f} s (site.yml)"))
    assert sum(probe.failures().values()) <= len(probe.results) * 0.05


def test_no_secure_string_value_appears_in_any_output(stack):
    values = [
        stack.client("ssm").get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
        for name in ("/taskmanager/secret_key", "/taskmanager/db_password")
    ]
    logs = [run.output for run in stack.runs]
    logs += [(stack.state_dir / name).read_text(errors="replace") for name in ("moto.log", "dataplane.log")]
    logs += [c.read_text(errors="replace") for c in (stack.state_dir / "dataplane/instances").glob("*/var/log/*.log")]
    assert len(stack.runs) >= 2 and all(len(value) >= 32 for value in values)
    for value in values:
        assert not any(value in text for text in logs), "a SecureString value is in the output"


def test_stopping_the_emulator_ends_every_data_plane_process(stack):
    pids = [i["pid"] for i in stack.status()["instances"] if i["pid"]]
    assert pids
    done = stack.script("stop")
    assert done.returncode == 0, done.stderr
    assert "no data-plane process left" in done.stdout
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    # Nor any cgroup of its instances, in any hierarchy.
    assert not list(Path("/sys/fs/cgroup").glob(f"*/localaws-{stack.port}")) + list(
        Path("/sys/fs/cgroup").glob(f"localaws-{stack.port}")
    )
