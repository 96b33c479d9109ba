# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/scale_test.yml against a private moto: the load runs for real on localhost, the
verdict is SKIPPED on the emulator, and outside emulator mode the watch reports exactly what the
group does (desired capacity changed by hand stands in for a scaling policy moto never runs)."""

import json
import os
import threading
import time

import boto3
import cpu_probe
import pytest

ASG = "TaskManagerASG"
REGION = "eu-north-1"


@pytest.fixture(scope="module")
def aws_env(moto):
    return {
        "AWS_ENDPOINT_URL": moto,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
    }


@pytest.fixture(scope="module")
def autoscaling(aws_env):
    """A minimal launch template and Auto Scaling group (desired 1, max 3) in moto."""
    session = boto3.session.Session(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto's dummy credentials
        region_name=REGION,
    )
    ec2 = session.client("ec2", endpoint_url=aws_env["AWS_ENDPOINT_URL"])
    client = session.client("autoscaling", endpoint_url=aws_env["AWS_ENDPOINT_URL"])
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    ec2.create_launch_template(
        LaunchTemplateName="stress-test", LaunchTemplateData={"ImageId": image, "InstanceType": "t3.micro"}
    )
    client.create_auto_scaling_group(
        AutoScalingGroupName=ASG,
        LaunchTemplate={"LaunchTemplateName": "stress-test", "Version": "$Latest"},
        MinSize=1,
        MaxSize=3,
        DesiredCapacity=1,
        AvailabilityZones=[f"{REGION}a"],
        Tags=[{"Key": "Project", "Value": "taskmanager", "PropagateAtLaunch": True}],
    )
    return client


@pytest.fixture
def scale_test(playbook, autoscaling, aws_env, state_dir, tmp_path):
    """scale_test(emulator, **vars) runs playbooks/scale_test.yml with short timings."""
    autoscaling.set_desired_capacity(AutoScalingGroupName=ASG, DesiredCapacity=1)

    def _run(emulator, **extra_vars):
        inventory = tmp_path / f"inventory-{emulator}.yml"  # JSON is YAML
        inventory.write_text(
            json.dumps(
                {
                    "all": {
                        "vars": {
                            "ansible_connection": "local",
                            "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                            "taskmanager_aws_region": REGION,
                            "taskmanager_aws_emulator": emulator,
                            "taskmanager_aws_environment": aws_env,
                        },
                        "children": {"fleet": {"hosts": {"localhost": {}}}},
                    }
                }
            )
        )
        base = {
            "stress_state_dir": str(state_dir),
            "stress_cpu_load": 20,
            "stress_workers": 1,
            "stress_duration": 60,
            "scale_test_interval": 1,
            "scale_test_timeout": 16,
            "scale_test_verify_spread": False,  # no load balancer in this moto
        }
        return playbook("playbooks/scale_test.yml", {**base, **extra_vars}, inventory=inventory)

    return _run


def desired(client):
    return client.describe_auto_scaling_groups(AutoScalingGroupNames=[ASG])["AutoScalingGroups"][0]["DesiredCapacity"]


def test_emulator_runs_the_load_and_never_fakes_a_scale_out(scale_test, autoscaling, state_dir):
    run = scale_test(True, scale_test_stop=True, stress_watch_emulator_samples=2)
    text = " ".join(run.output.split())
    assert run.rc == 0, run.output
    assert "Started: pid" in text  # the load really ran on the fleet host
    assert "moto stores scaling policies but never evaluates them" in text
    assert "SKIPPED scale-out verdict: emulator" in text
    assert "PASS" not in text and "FAIL scale" not in text
    assert "UTC t (s) CPU % desired in service healthy scaling activity" in text and "n/a" in text
    assert desired(autoscaling) == 1
    assert cpu_probe.read_pidfile(state_dir) is None  # stopped at the end


def test_scale_out_and_scale_in_are_seen_and_pass(scale_test, autoscaling, state_dir):
    def scaling_policy_stand_in():
        deadline = time.monotonic() + 60
        while cpu_probe.read_pidfile(state_dir) is None and time.monotonic() < deadline:
            time.sleep(0.2)  # wait for the load
        time.sleep(3)
        autoscaling.set_desired_capacity(AutoScalingGroupName=ASG, DesiredCapacity=2)
        while cpu_probe.read_pidfile(state_dir) is not None and time.monotonic() < deadline:
            time.sleep(0.2)  # wait for the playbook to stop the load
        time.sleep(2)
        autoscaling.set_desired_capacity(AutoScalingGroupName=ASG, DesiredCapacity=1)

    helper = threading.Thread(target=scaling_policy_stand_in, daemon=True)
    helper.start()
    run = scale_test(False, scale_test_scale_in=True, scale_test_interval=2, scale_test_scale_in_timeout=20)
    helper.join(timeout=70)
    print("\n".join(line for line in run.output.splitlines() if "    - '" in line))
    text = " ".join(run.output.split())
    assert run.rc == 0, run.output
    assert "moto stores scaling policies" not in text and "SKIPPED" not in text
    assert f"PASS scale-out of {ASG}: desired 1 -> 2" in text, run.output
    assert f"PASS scale-in of {ASG}: desired 2 -> 1" in text, run.output
    assert cpu_probe.read_pidfile(state_dir) is None


def test_no_scale_out_is_a_fail_and_the_load_is_still_stopped(scale_test, state_dir):
    run = scale_test(False, scale_test_timeout=3, scale_test_stop=True)
    text = " ".join(run.output.split())
    assert run.rc != 0, run.output
    assert f"FAIL scale-out of {ASG}: desired 1 -> 1" in text and "(timeout 3 s)" in text, run.output
    assert cpu_probe.read_pidfile(state_dir) is None
    assert os.path.exists(state_dir)  # the load had been started there
