"""moto's server as cairn's tests and demo run it: moto with one fix.

Every request cairn sends to AWS goes over TLS; the emulator is reached
over plain HTTP, standing in for it. moto evaluates a bucket policy's
statements with their conditions unmet, so the usual Deny of requests
whose `aws:SecureTransport` is false (which cairn merges into every
bucket's policy by default) would deny every request to the bucket. Here
such statements are left out when moto decides a request, as AWS leaves
them out for a request made over TLS. Everything else is moto's own.
"""

import json
import re
import sys

from moto.iam.access_control import IAMPolicy, PermissionResult
from moto.s3 import models
from moto.server import main


def _denies_plain_http_only(statement):
    """A Deny whose one condition is `aws:SecureTransport` false."""
    if not isinstance(statement, dict) or statement.get("Effect") != "Deny":
        return False
    condition = statement.get("Condition") or {}
    if list(condition) != ["Bool"] or list(condition["Bool"]) != ["aws:SecureTransport"]:
        return False
    value = condition["Bool"]["aws:SecureTransport"]
    values = value if isinstance(value, list) else [value]
    return [str(v).lower() for v in values] == ["false"]


def _get_permission(self, action, resource):
    if self.policy is None:
        return PermissionResult.NEUTRAL
    document = json.loads(self.policy.decode())
    statements = document.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    kept = [s for s in statements if not _denies_plain_http_only(s)]
    if not kept:
        return PermissionResult.NEUTRAL
    return IAMPolicy(json.dumps({**document, "Statement": kept})).is_action_permitted(action, resource)


models.FakeBucket.get_permission = _get_permission

if __name__ == "__main__":
    sys.argv[0] = re.sub(r"(-script\.pyw|\.exe)?$", "", sys.argv[0])
    sys.exit(main())
