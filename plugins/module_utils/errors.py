# Copyright: Contributors to the taskmanager.aws collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Error handlers of this collection's AWS calls, after amazon.aws ``module_utils/errors.py``.

Each thin API wrapper (``ecs_api.py``) carries one handler: a botocore error becomes an
:class:`AnsibleTaskmanagerAWSError` naming what failed, and each module's ``main()`` catches that
one exception and hands it to ``module.fail_json_aws_error``.
"""

from __future__ import annotations

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.errors import AWSErrorHandler
from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError


class AnsibleTaskmanagerAWSError(AnsibleAWSError):
    pass


class ECSErrorHandler(AWSErrorHandler):
    _CUSTOM_EXCEPTION = AnsibleTaskmanagerAWSError

    @classmethod
    def _is_missing(cls):
        return is_boto3_error_code(["ClusterNotFoundException", "ServiceNotFoundException"])


class ELBv2ErrorHandler(AWSErrorHandler):
    _CUSTOM_EXCEPTION = AnsibleTaskmanagerAWSError

    @classmethod
    def _is_missing(cls):
        return is_boto3_error_code("TargetGroupNotFound")


class ECRErrorHandler(AWSErrorHandler):
    _CUSTOM_EXCEPTION = AnsibleTaskmanagerAWSError

    @classmethod
    def _is_missing(cls):
        return is_boto3_error_code("RepositoryNotFoundException")


class SSMErrorHandler(AWSErrorHandler):
    _CUSTOM_EXCEPTION = AnsibleTaskmanagerAWSError

    @classmethod
    def _is_missing(cls):
        return is_boto3_error_code("ParameterNotFound")


class EC2ErrorHandler(AWSErrorHandler):
    _CUSTOM_EXCEPTION = AnsibleTaskmanagerAWSError

    @classmethod
    def _is_missing(cls):
        return is_boto3_error_code("InvalidInstanceID.NotFound")


class ListErrorHandler(AWSErrorHandler):
    """For listing calls where nothing counts as missing (an empty list is the answer)."""

    _CUSTOM_EXCEPTION = AnsibleTaskmanagerAWSError
