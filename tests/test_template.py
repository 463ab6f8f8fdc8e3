"""template.yaml: lint-clean, and the security and reliability properties the design relies on.

The template is read with cfn-lint's own decoder (it understands !Sub, !GetAtt, ...). SAM's
Globals are merged into each function the way SAM merges them (maps merged, scalars
overridden), so the checks look at what will actually be deployed. `make template-lint` adds
`sam validate --lint`, which needs the SAM CLI from its own virtualenv.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint_file
from cfnlint.decode import decode

from tests.helpers import REPO_ROOT

TEMPLATE_PATH = REPO_ROOT / "template.yaml"
ENV_JSON_PATH = REPO_ROOT / "events" / "env.json"

LAKE_BUCKETS = {"LandingBucket", "CuratedBucket", "QuarantineBucket"}
# buckets whose server access logs go to AccessLogsBucket, under <zone>/
LOGGED_BUCKETS = {
    "LandingBucket": "landing",
    "CuratedBucket": "curated",
    "QuarantineBucket": "quarantine",
    "AnalyticsBucket": "analytics",
}
# derived data: versioned, and only their replaced versions expire (after 30 days)
DERIVED_BUCKETS = {"CuratedBucket", "AnalyticsBucket"}
# personal data in clear (docs/reliability.md "Raw-PII zones"): expire after a configured time,
# readable only by the ingest function and the operator role
RAW_BUCKETS = {"LandingBucket", "QuarantineBucket"}
RAW_RULES = {"ExpireRawData", "RemoveExpiredDeleteMarkers"}
FUNCTION_ENV = {
    "LANDING_URI",
    "CURATED_URI",
    "QUARANTINE_URI",
    "HMAC_KEY_SECRET_ID",
    "DUCKDB_MEMORY_LIMIT",
    "WORK_DIR",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_LOG_LEVEL",
}
# Actions without resource-level permissions: the only ones an Allow may grant on "*".
NO_RESOURCE_LEVEL_ACTIONS = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "xray:GetSamplingStatisticSummaries",
    "cloudwatch:PutMetricData",
    # Step Functions' log delivery to CloudWatch Logs (documented: resource "*" only)
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
    # the report's task execution role: ECR's login token is not tied to a repository
    "ecr:GetAuthorizationToken",
}
# Python runtimes that run on Amazon Linux 2 (glibc 2.26): DuckDB >= 1.3 wheels need >= 2.27.
AMAZON_LINUX_2_PYTHONS = {"python3.8", "python3.9", "python3.10", "python3.11"}


# --- reading the template --------------------------------------------------------------------


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    template, matches = decode(str(path))
    assert not matches, [str(m) for m in matches]
    assert template is not None
    plain: dict[str, Any] = json.loads(json.dumps(template))  # cfn-lint nodes -> plain data
    return plain


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    res: dict[str, Any] = template["Resources"]
    return res


def of_type(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    return {name: r for name, r in resources.items() if r["Type"] == kind}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def referenced(value: Any) -> set[str]:
    """Logical ids (and parameters) a value points at through Ref, GetAtt or Sub."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref":
                found.add(inner)
            elif key == "Fn::GetAtt":
                found.add(inner[0] if isinstance(inner, list) else inner.split(".")[0])
            elif key == "Fn::Sub":
                text = inner if isinstance(inner, str) else inner[0]
                found.update(m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", text))
                if not isinstance(inner, str):
                    found |= referenced(inner[1])
            else:
                found |= referenced(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= referenced(inner)
    return found


def getatt(logical_id: str, attribute: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [logical_id, attribute]}


def merge_globals(global_props: dict[str, Any], props: dict[str, Any]) -> dict[str, Any]:
    """SAM's Globals merge: maps are merged (resource wins), anything else is replaced."""
    merged = dict(global_props)
    for key, value in props.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_globals(merged[key], value)
        else:
            merged[key] = value
    return merged


def function_properties(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    resource = template["Resources"][logical_id]
    assert resource["Type"] == "AWS::Serverless::Function"
    globals_ = template.get("Globals", {}).get("Function", {})
    return merge_globals(globals_, resource["Properties"])


def policy_statements(resources: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every identity-policy statement granted to a principal of this stack."""
    found: list[tuple[str, dict[str, Any]]] = []
    for name, resource in resources.items():
        props = resource.get("Properties", {})
        kind = resource["Type"]
        if kind in ("AWS::Serverless::Function", "AWS::Serverless::StateMachine"):
            for policy in as_list(props.get("Policies", [])):
                if isinstance(policy, dict) and "Statement" in policy:
                    found += [(name, s) for s in as_list(policy["Statement"])]
        elif kind == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                found += [(name, s) for s in as_list(policy["PolicyDocument"]["Statement"])]
        elif kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            found += [(name, s) for s in as_list(props["PolicyDocument"]["Statement"])]
    return found


def allow_statements(resources: dict[str, Any], principal: str) -> list[dict[str, Any]]:
    return [
        s
        for name, s in policy_statements(resources)
        if name == principal and s["Effect"] == "Allow"
    ]


def sub_text(value: Any) -> str:
    assert isinstance(value, dict), value
    assert set(value) == {"Fn::Sub"}, value
    text = value["Fn::Sub"]
    assert isinstance(text, str)
    return text


# --- lint ------------------------------------------------------------------------------------


def test_cfn_lint_reports_nothing_not_even_informational() -> None:
    matches = lint_file(
        TEMPLATE_PATH,
        config=ManualArgs(regions=["ap-northeast-2", "us-east-1"], include_checks=["I"]),
    )
    assert [str(m) for m in matches] == []


# --- lake buckets ----------------------------------------------------------------------------


def test_the_lake_zones_are_the_stacks_buckets(resources: dict[str, Any]) -> None:
    assert set(of_type(resources, "AWS::S3::Bucket")) >= LAKE_BUCKETS


def all_buckets() -> list[str]:
    return sorted(of_type(load_template()["Resources"], "AWS::S3::Bucket"))


@pytest.mark.parametrize("bucket", all_buckets())
def test_bucket_is_encrypted(resources: dict[str, Any], bucket: str) -> None:
    rules = resources[bucket]["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rules
    for rule in rules:
        algorithm = rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"]
        assert algorithm in {"AES256", "aws:kms", "aws:kms:dsse"}
        if algorithm != "AES256":
            assert rule.get("BucketKeyEnabled") is True


@pytest.mark.parametrize("bucket", all_buckets())
def test_bucket_blocks_all_public_access_and_disables_acls(
    resources: dict[str, Any], bucket: str
) -> None:
    props = resources[bucket]["Properties"]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]


@pytest.mark.parametrize("bucket", all_buckets())
def test_bucket_policy_denies_requests_without_tls(resources: dict[str, Any], bucket: str) -> None:
    policies = [
        p
        for p in of_type(resources, "AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket}
    ]
    assert len(policies) == 1, f"{bucket} needs exactly one bucket policy"
    statements = as_list(policies[0]["Properties"]["PolicyDocument"]["Statement"])
    tls_denies = [
        s
        for s in statements
        if s["Effect"] == "Deny"
        and s["Principal"] in ("*", {"AWS": "*"})
        and "s3:*" in as_list(s["Action"])
        and str(s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport")).lower()
        == "false"
    ]
    assert len(tls_denies) == 1
    covered = as_list(tls_denies[0]["Resource"])
    assert getatt(bucket, "Arn") in covered  # the bucket itself
    assert {"Fn::Sub": f"${{{bucket}.Arn}}/*"} in covered  # and every object in it


@pytest.mark.parametrize("bucket", all_buckets())
def test_bucket_is_kept_when_the_stack_goes(resources: dict[str, Any], bucket: str) -> None:
    assert resources[bucket]["DeletionPolicy"] == "Retain"
    assert resources[bucket]["UpdateReplacePolicy"] == "Retain"


@pytest.mark.parametrize("bucket", all_buckets())
def test_bucket_aborts_incomplete_multipart_uploads(resources: dict[str, Any], bucket: str) -> None:
    rules = resources[bucket]["Properties"]["LifecycleConfiguration"]["Rules"]
    aborts = [r for r in rules if "AbortIncompleteMultipartUpload" in r]
    assert aborts
    assert all(r["Status"] == "Enabled" for r in aborts)
    # only harmless rules: no current object ever expires or moves; replaced versions of
    # derived data (and the delete markers left alone) expire, nowhere else; the raw zones'
    # data expires by its own rules (test_raw_zones_expire_after_the_configured_days)
    for rule in rules:
        if bucket in RAW_BUCKETS and rule["Id"] in RAW_RULES:
            continue
        assert not {"ExpirationInDays", "ExpirationDate"} & set(rule)
        assert not {"Transitions", "Transition", "NoncurrentVersionTransitions"} & set(rule)
        if bucket not in DERIVED_BUCKETS:
            assert not {"NoncurrentVersionExpiration", "ExpiredObjectDeleteMarker"} & set(rule)


@pytest.mark.parametrize("bucket", all_buckets())
def test_bucket_is_versioned(resources: dict[str, Any], bucket: str) -> None:
    # landing: the ingest reads the version its event names; quarantine and logs: nothing put
    # there is lost; curated and analytics: a bad rebuild can be undone
    assert resources[bucket]["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}


@pytest.mark.parametrize("bucket", sorted(DERIVED_BUCKETS))
def test_replaced_versions_of_derived_data_expire_after_30_days(
    resources: dict[str, Any], bucket: str
) -> None:
    rules = resources[bucket]["Properties"]["LifecycleConfiguration"]["Rules"]
    expiring = [r for r in rules if "NoncurrentVersionExpiration" in r]
    assert len(expiring) == 1
    assert expiring[0]["Status"] == "Enabled"
    assert int(expiring[0]["NoncurrentVersionExpiration"]["NoncurrentDays"]) == 30
    assert expiring[0]["ExpiredObjectDeleteMarker"] is True
    assert "Prefix" not in expiring[0] and "Filter" not in expiring[0]  # the whole bucket


@pytest.mark.parametrize("bucket", sorted(RAW_BUCKETS))
def test_raw_zones_expire_after_the_configured_days(
    template: dict[str, Any], resources: dict[str, Any], bucket: str
) -> None:
    parameter = template["Parameters"]["RawZoneExpirationDays"]
    assert parameter["Type"] == "Number" and int(parameter["MinValue"]) >= 1
    rules = {r["Id"]: r for r in resources[bucket]["Properties"]["LifecycleConfiguration"]["Rules"]}
    expire = rules["ExpireRawData"]
    assert expire["Status"] == "Enabled"
    assert expire["ExpirationInDays"] == {"Ref": "RawZoneExpirationDays"}
    # versioned: the replaced versions (and then the delete markers) go too
    assert expire["NoncurrentVersionExpiration"] == {
        "NoncurrentDays": {"Ref": "RawZoneExpirationDays"}
    }
    assert "Prefix" not in expire and "Filter" not in expire  # the whole bucket
    assert rules["RemoveExpiredDeleteMarkers"]["ExpiredObjectDeleteMarker"] is True


@pytest.mark.parametrize("bucket", sorted(RAW_BUCKETS))
def test_only_ingest_and_the_operator_role_can_read_a_raw_zone(
    resources: dict[str, Any], bucket: str
) -> None:
    policy = resources[f"{bucket}Policy"]["Properties"]["PolicyDocument"]
    (deny,) = [s for s in policy["Statement"] if s["Sid"] == "RawDataReadOnlyByIngestAndOperator"]
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*"
    assert {"s3:GetObject", "s3:GetObjectVersion"} <= set(as_list(deny["Action"]))
    assert sub_text(deny["Resource"]) == f"${{{bucket}.Arn}}/*"
    assert deny["Condition"] == {
        "ArnNotEquals": {
            "aws:PrincipalArn": [
                getatt("IngestFunctionRole", "Arn"),
                getatt("RawZoneOperatorRole", "Arn"),
            ]
        }
    }
    # and no other role of the stack is even granted a read there
    readers = {
        name
        for name, statement in policy_statements(resources)
        if statement["Effect"] == "Allow"
        and bucket in referenced(statement.get("Resource"))
        and any(a.startswith("s3:Get") for a in as_list(statement["Action"]))
    }
    assert readers <= {"IngestFunctionRole", "RawZoneOperatorRole"}, readers


def test_the_operator_role_reads_the_raw_zones_with_mfa_only(resources: dict[str, Any]) -> None:
    role = resources["RawZoneOperatorRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Condition"] == {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
    allowed = allow_statements(resources, "RawZoneOperatorRole")
    actions = {a for s in allowed for a in as_list(s["Action"])}
    assert actions == {
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:ListBucket",
        "s3:ListBucketVersions",
    }
    assert {r for s in allowed for r in referenced(s["Resource"])} == RAW_BUCKETS


# --- access logs -----------------------------------------------------------------------------


@pytest.mark.parametrize("bucket", sorted(LOGGED_BUCKETS))
def test_zone_bucket_logs_accesses_under_its_own_prefix(
    resources: dict[str, Any], bucket: str
) -> None:
    assert resources[bucket]["Properties"]["LoggingConfiguration"] == {
        "DestinationBucketName": {"Ref": "AccessLogsBucket"},
        "LogFilePrefix": f"{LOGGED_BUCKETS[bucket]}/",
    }


def test_every_bucket_but_the_log_bucket_logs_its_accesses(resources: dict[str, Any]) -> None:
    buckets = set(of_type(resources, "AWS::S3::Bucket"))
    assert buckets - {"AccessLogsBucket"} == set(LOGGED_BUCKETS)
    assert "LoggingConfiguration" not in resources["AccessLogsBucket"]["Properties"]


def test_only_log_delivery_for_the_zone_buckets_may_write_access_logs(
    resources: dict[str, Any],
) -> None:
    policies = [
        p["Properties"]["PolicyDocument"]
        for p in of_type(resources, "AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": "AccessLogsBucket"}
    ]
    assert len(policies) == 1
    allows = [s for s in as_list(policies[0]["Statement"]) if s["Effect"] == "Allow"]
    assert len(allows) == 1
    allow = allows[0]
    assert allow["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert as_list(allow["Action"]) == ["s3:PutObject"]
    assert allow["Resource"] == {"Fn::Sub": "${AccessLogsBucket.Arn}/*"}
    condition = allow["Condition"]
    assert condition["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    # the ARNs of exactly the logged buckets, built from the same names as the buckets
    sources = sorted(sub_text(arn) for arn in as_list(condition["ArnLike"]["aws:SourceArn"]))
    expected = sorted(
        f"arn:${{AWS::Partition}}:s3:::{sub_text(resources[b]['Properties']['BucketName'])}"
        for b in LOGGED_BUCKETS
    )
    assert sources == expected


def test_bucket_names_are_unique_per_account_and_region(resources: dict[str, Any]) -> None:
    buckets = sorted(of_type(resources, "AWS::S3::Bucket"))
    names = [sub_text(resources[b]["Properties"]["BucketName"]) for b in buckets]
    assert len(set(names)) == len(names)
    for name in names:
        assert "${AWS::AccountId}" in name
        assert "${AWS::Region}" in name
        assert "${NamePrefix}" in name


# --- ingest queue ----------------------------------------------------------------------------


def test_ingest_queue_redrives_to_the_dead_letter_queue(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    redrive = resources["IngestQueue"]["Properties"]["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == getatt("IngestDeadLetterQueue", "Arn")
    # one number for the queue and the function, which quarantines on the last delivery
    assert redrive["maxReceiveCount"] == {"Ref": "IngestMaxReceiveCount"}
    assert 3 <= int(template["Parameters"]["IngestMaxReceiveCount"]["Default"]) <= 10
    env = function_properties(template, "IngestFunction")["Environment"]["Variables"]
    assert env["MAX_RECEIVE_COUNT"] == {"Ref": "IngestMaxReceiveCount"}


def test_dead_letter_queue_keeps_messages_14_days(resources: dict[str, Any]) -> None:
    dlq_retention = int(resources["IngestDeadLetterQueue"]["Properties"]["MessageRetentionPeriod"])
    queue_retention = int(
        resources["IngestQueue"]["Properties"].get("MessageRetentionPeriod", 4 * 86400)
    )
    assert dlq_retention == 14 * 86400
    # a message keeps its original enqueue time in the DLQ
    assert queue_retention < dlq_retention


@pytest.mark.parametrize("queue", ["IngestQueue", "IngestDeadLetterQueue"])
def test_queues_are_encrypted(resources: dict[str, Any], queue: str) -> None:
    props = resources[queue]["Properties"]
    assert props.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in props


def test_visibility_timeout_is_at_least_six_times_the_function_timeout(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    timeout = int(function_properties(template, "IngestFunction")["Timeout"])
    assert int(resources["IngestQueue"]["Properties"]["VisibilityTimeout"]) >= 6 * timeout


def test_only_the_landing_bucket_of_this_account_may_send_to_the_queue(
    resources: dict[str, Any],
) -> None:
    policies = [
        p
        for p in of_type(resources, "AWS::SQS::QueuePolicy").values()
        if {"Ref": "IngestQueue"} in p["Properties"]["Queues"]
    ]
    assert len(policies) == 1
    statements = as_list(policies[0]["Properties"]["PolicyDocument"]["Statement"])
    allows = [s for s in statements if s["Effect"] == "Allow"]
    assert len(allows) == 1
    allow = allows[0]
    assert allow["Principal"] == {"Service": "s3.amazonaws.com"}
    assert as_list(allow["Action"]) == ["sqs:SendMessage"]
    assert allow["Resource"] == getatt("IngestQueue", "Arn")

    condition = allow["Condition"]
    source_arn = sub_text(condition["ArnEquals"]["aws:SourceArn"])
    landing_name = sub_text(resources["LandingBucket"]["Properties"]["BucketName"])
    # built from the same name as the bucket (not !GetAtt, which would be circular)
    assert source_arn == f"arn:${{AWS::Partition}}:s3:::{landing_name}"
    assert condition["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}


def test_landing_bucket_sends_every_object_created_event_to_the_queue(
    resources: dict[str, Any],
) -> None:
    landing = resources["LandingBucket"]
    configs = landing["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    assert {"Event": "s3:ObjectCreated:*", "Queue": getatt("IngestQueue", "Arn")} in [
        {"Event": c["Event"], "Queue": c["Queue"]} for c in configs
    ]
    # S3 tests the destination when the notification is set: the policy must exist first
    assert "IngestQueuePolicy" in as_list(landing.get("DependsOn", []))


# --- ingest function -------------------------------------------------------------------------


def test_ingest_function_code_and_sizing(template: dict[str, Any]) -> None:
    props = function_properties(template, "IngestFunction")
    assert props["CodeUri"] == "functions/"
    assert props["Handler"] == "ingest.handler.lambda_handler"
    assert re.fullmatch(r"python3\.\d+", props["Runtime"])
    assert props["Architectures"] == ["x86_64"]
    assert int(props["MemorySize"]) >= 3008
    assert int(props["EphemeralStorage"]["Size"]) == 10240
    assert int(props["Timeout"]) == 900
    assert props["Tracing"] == "Active"


def test_runtime_has_a_glibc_that_duckdb_wheels_support(template: dict[str, Any]) -> None:
    # DuckDB >= 1.3 ships manylinux_2_27 wheels only; Amazon Linux 2 runtimes have glibc 2.26.
    assert function_properties(template, "IngestFunction")["Runtime"] not in AMAZON_LINUX_2_PYTHONS


def test_ingest_function_concurrency_is_reserved_above_what_the_queue_sends(
    template: dict[str, Any],
) -> None:
    props = function_properties(template, "IngestFunction")
    reserved = props["ReservedConcurrentExecutions"]
    # a parameter, left out when 0 (an account with the new-account quota can reserve nothing)
    assert reserved == {
        "Fn::If": [
            "HasIngestReservedConcurrency",
            {"Ref": "IngestReservedConcurrency"},
            {"Ref": "AWS::NoValue"},
        ]
    }
    assert template["Conditions"]["HasIngestReservedConcurrency"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "IngestReservedConcurrency"}, 0]}]
    }
    default = int(template["Parameters"]["IngestReservedConcurrency"]["Default"])
    sqs = [e["Properties"] for e in props["Events"].values() if e["Type"] == "SQS"]
    # fewer reserved than the event source may run at once would throttle messages
    assert default >= int(sqs[0]["ScalingConfig"]["MaximumConcurrency"])


def test_every_checkov_skip_says_why(resources: dict[str, Any]) -> None:
    skips = [
        (name, skip)
        for name, r in resources.items()
        for skip in r.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert skips  # the template has some (make template-security runs checkov)
    for name, skip in skips:
        assert re.fullmatch(r"CKV_AWS_\d+", skip["id"]), (name, skip)
        assert len(skip.get("comment", "").split()) >= 10, (name, skip)
    # never the same check skipped twice on one resource
    assert len({(n, s["id"]) for n, s in skips}) == len(skips)


def test_ingest_function_is_fed_by_the_queue_with_partial_batch_failures(
    template: dict[str, Any],
) -> None:
    events = function_properties(template, "IngestFunction")["Events"]
    sqs = [e["Properties"] for e in events.values() if e["Type"] == "SQS"]
    assert len(sqs) == 1
    source = sqs[0]
    assert source["Queue"] == getatt("IngestQueue", "Arn")
    assert source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert 1 <= int(source["BatchSize"]) <= 5


def test_ingest_function_environment(template: dict[str, Any]) -> None:
    env = function_properties(template, "IngestFunction")["Environment"]["Variables"]
    assert set(env) >= FUNCTION_ENV
    assert env["LANDING_URI"] == {"Fn::Sub": "s3://${LandingBucket}"}
    assert env["CURATED_URI"] == {"Fn::Sub": "s3://${CuratedBucket}"}
    assert env["QUARANTINE_URI"] == {"Fn::Sub": "s3://${QuarantineBucket}"}
    assert env["HMAC_KEY_SECRET_ID"] == {"Ref": "HmacKeySecret"}
    assert re.fullmatch(r"\d+(\.\d+)?[MG]B", env["DUCKDB_MEMORY_LIMIT"])
    assert env["WORK_DIR"] == "/tmp"
    assert env["POWERTOOLS_SERVICE_NAME"] == "lakedrop-ingest"
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "lakedrop"
    assert env["POWERTOOLS_LOG_LEVEL"] == "INFO"


def test_duckdb_memory_limit_leaves_headroom_in_the_function(template: dict[str, Any]) -> None:
    props = function_properties(template, "IngestFunction")
    limit = props["Environment"]["Variables"]["DUCKDB_MEMORY_LIMIT"]
    number, unit = float(limit[:-2]), limit[-2:]
    limit_mb = number * (1024 if unit == "GB" else 1)
    assert limit_mb <= 0.8 * int(props["MemorySize"])


def test_env_json_for_sam_local_sets_only_variables_the_template_declares(
    template: dict[str, Any],
) -> None:
    # `sam local invoke --env-vars` only overrides variables declared in the template
    declared = function_properties(template, "IngestFunction")["Environment"]["Variables"]
    local = json.loads(ENV_JSON_PATH.read_text(encoding="utf-8"))["IngestFunction"]
    assert set(local) >= FUNCTION_ENV
    assert set(local) <= set(declared)
    assert all(isinstance(v, str) for v in local.values())


# --- least privilege -------------------------------------------------------------------------


def test_no_allow_on_every_resource_except_actions_without_resource_permissions(
    resources: dict[str, Any],
) -> None:
    for principal, statement in policy_statements(resources):
        if statement["Effect"] != "Allow":
            continue
        if "*" in as_list(statement["Resource"]):
            actions = set(as_list(statement["Action"]))
            assert actions <= NO_RESOURCE_LEVEL_ACTIONS, (principal, statement)


def test_no_wildcard_actions(resources: dict[str, Any]) -> None:
    for principal, statement in policy_statements(resources):
        if statement["Effect"] == "Allow":
            for action in as_list(statement["Action"]):
                assert action != "*" and not action.endswith(":*"), (principal, action)


def test_function_runs_with_its_own_role_and_no_managed_policies(
    resources: dict[str, Any],
) -> None:
    function = resources["IngestFunction"]["Properties"]
    assert function["Role"] == getatt("IngestFunctionRole", "Arn")
    # With Policies (or no Role), SAM generates a role with AWSLambdaSQSQueueExecutionRole and
    # AWSLambdaBasicExecutionRole attached: every queue and every log group of the account.
    assert "Policies" not in function
    role = resources["IngestFunctionRole"]
    assert role["Type"] == "AWS::IAM::Role"
    assert not role["Properties"].get("ManagedPolicyArns")
    assert as_list(role["Properties"]["AssumeRolePolicyDocument"]["Statement"]) == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ]


def actions_on(resources: dict[str, Any], logical_id: str) -> set[str]:
    """Actions the ingest role is allowed on a resource of the stack (or on objects in it)."""
    return {
        action
        for s in allow_statements(resources, "IngestFunctionRole")
        if any(logical_id in referenced(r) for r in as_list(s["Resource"]))
        for action in as_list(s["Action"])
    }


def test_function_consumes_only_the_ingest_queue(resources: dict[str, Any]) -> None:
    assert actions_on(resources, "IngestQueue") == {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
    }
    sqs_statements = [
        s
        for s in allow_statements(resources, "IngestFunctionRole")
        if any(a.startswith("sqs:") for a in as_list(s["Action"]))
    ]
    assert all(as_list(s["Resource"]) == [getatt("IngestQueue", "Arn")] for s in sqs_statements)


def test_function_writes_only_its_own_log_group(resources: dict[str, Any]) -> None:
    logs_statements = [
        s
        for s in allow_statements(resources, "IngestFunctionRole")
        if any(a.startswith("logs:") for a in as_list(s["Action"]))
    ]
    assert logs_statements, "the function could not write its logs"
    for statement in logs_statements:
        assert as_list(statement["Resource"]) == [getatt("IngestFunctionLogGroup", "Arn")]
    function = resources["IngestFunction"]["Properties"]
    assert function["LoggingConfig"]["LogGroup"] == {"Ref": "IngestFunctionLogGroup"}


def test_function_can_write_traces(template: dict[str, Any], resources: dict[str, Any]) -> None:
    assert function_properties(template, "IngestFunction")["Tracing"] == "Active"
    actions = {
        a for s in allow_statements(resources, "IngestFunctionRole") for a in as_list(s["Action"])
    }
    assert {"xray:PutTraceSegments", "xray:PutTelemetryRecords"} <= actions


def test_function_reads_only_the_hmac_key_secret(resources: dict[str, Any]) -> None:
    secret_statements = [
        s
        for s in allow_statements(resources, "IngestFunctionRole")
        if any(a.startswith("secretsmanager:") for a in as_list(s["Action"]))
    ]
    assert len(secret_statements) == 1
    statement = secret_statements[0]
    assert as_list(statement["Action"]) == ["secretsmanager:GetSecretValue"]
    assert as_list(statement["Resource"]) == [{"Ref": "HmacKeySecret"}]


def test_function_can_only_read_the_landing_zone(resources: dict[str, Any]) -> None:
    actions = actions_on(resources, "LandingBucket")
    assert {"s3:GetObject", "s3:GetObjectVersion"} <= actions
    assert all(a.startswith(("s3:Get", "s3:List")) for a in actions), actions


def test_function_reads_writes_and_deletes_in_the_curated_zone(resources: dict[str, Any]) -> None:
    actions = actions_on(resources, "CuratedBucket")
    assert {"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"} <= actions


def test_function_writes_and_reads_the_quarantine_zone(resources: dict[str, Any]) -> None:
    actions = actions_on(resources, "QuarantineBucket")
    assert {"s3:GetObject", "s3:PutObject", "s3:ListBucket"} <= actions


def test_nothing_can_delete_object_versions(resources: dict[str, Any]) -> None:
    # versioning on landing and quarantine only protects data if no version can be removed
    for principal, statement in policy_statements(resources):
        if statement["Effect"] == "Allow":
            actions = set(as_list(statement["Action"]))
            assert not actions & {"s3:DeleteObjectVersion", "s3:PutBucketVersioning"}, principal


def test_object_permissions_name_objects_and_list_permissions_name_buckets(
    resources: dict[str, Any],
) -> None:
    for statement in allow_statements(resources, "IngestFunctionRole"):
        for action in as_list(statement["Action"]):
            if not action.startswith("s3:"):
                continue
            for resource in as_list(statement["Resource"]):
                if action == "s3:ListBucket":
                    assert resource == getatt(next(iter(referenced(resource))), "Arn")
                else:
                    assert sub_text(resource).endswith(".Arn}/*"), (action, resource)


# --- the HMAC key ----------------------------------------------------------------------------


def test_hmac_key_is_generated_long_and_kept(resources: dict[str, Any]) -> None:
    secret = resources["HmacKeySecret"]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    props = secret["Properties"]
    assert "SecretString" not in props  # never a literal in the template
    generated = props["GenerateSecretString"]
    assert int(generated["PasswordLength"]) >= 64
    assert "GenerateStringKey" not in generated  # the SecretString is the key itself
    # losing or replacing the key makes new pseudonyms unlinkable to old ones
    assert secret["DeletionPolicy"] == "Retain"
    assert secret["UpdateReplacePolicy"] == "Retain"


# --- monitoring and outputs ------------------------------------------------------------------


def test_an_alarm_fires_when_the_dead_letter_queue_is_not_empty(resources: dict[str, Any]) -> None:
    alarms = [
        a["Properties"]
        for a in of_type(resources, "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("Namespace") == "AWS/SQS"
        and {"Name": "QueueName", "Value": getatt("IngestDeadLetterQueue", "QueueName")}
        in a["Properties"].get("Dimensions", [])
    ]
    assert len(alarms) == 1
    alarm = alarms[0]
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert float(alarm["Threshold"]) == 0
    assert alarm["AlarmActions"]


def test_outputs_name_what_users_and_later_stacks_need(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    expected = {
        "LandingBucketName": {"Ref": "LandingBucket"},
        "CuratedBucketName": {"Ref": "CuratedBucket"},
        "QuarantineBucketName": {"Ref": "QuarantineBucket"},
        "IngestQueueUrl": {"Ref": "IngestQueue"},
        "IngestDeadLetterQueueUrl": {"Ref": "IngestDeadLetterQueue"},
        "IngestFunctionName": {"Ref": "IngestFunction"},
    }
    assert {name: outputs[name]["Value"] for name in expected} == expected


# --- training (SageMaker) --------------------------------------------------------------------


def test_sagemaker_training_role_is_for_sagemaker_only(resources: dict[str, Any]) -> None:
    trust = as_list(
        resources["SageMakerTrainingRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    )
    assert [s["Principal"] for s in trust] == [{"Service": "sagemaker.amazonaws.com"}]
    assert trust[0]["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}


def test_sagemaker_training_role_reads_features_and_writes_only_its_staging_prefix(
    resources: dict[str, Any],
) -> None:
    statements = allow_statements(resources, "SageMakerTrainingRole")
    s3 = [s for s in statements if any(a.startswith("s3:") for a in as_list(s["Action"]))]
    by_action = {a: as_list(s["Resource"]) for s in s3 for a in as_list(s["Action"])}
    assert set(by_action) == {"s3:GetObject", "s3:PutObject", "s3:ListBucket"}  # no deletes
    assert by_action["s3:PutObject"] == [{"Fn::Sub": "${AnalyticsBucket.Arn}/sagemaker/*"}]
    assert by_action["s3:GetObject"] == [
        {"Fn::Sub": "${AnalyticsBucket.Arn}/features/*"},
        {"Fn::Sub": "${AnalyticsBucket.Arn}/sagemaker/*"},
    ]
    assert by_action["s3:ListBucket"] == [getatt("AnalyticsBucket", "Arn")]
    outputs = load_template()["Outputs"]
    assert outputs["SageMakerTrainingRoleArn"]["Value"] == getatt("SageMakerTrainingRole", "Arn")
    assert outputs["AnalyticsBucketName"]["Value"] == {"Ref": "AnalyticsBucket"}


# --- the report on AWS (ECS Fargate behind an ALB with Cognito) ------------------------------

REPORT_CONDITION = "DeployReport"


def report_ids(resources: dict[str, Any]) -> set[str]:
    return {name for name in resources if name.startswith("Report")}


def sub_resource(value: Any) -> str:
    """``${CuratedBucket.Arn}/_manifests/*`` from ``{"Fn::Sub": ...}``; a GetAtt as ``${X.Arn}``."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        return f"${{{logical_id}.{attribute}}}"
    return sub_text(value)


def test_report_is_deployed_only_with_image_certificate_and_domain(
    template: dict[str, Any],
) -> None:
    condition = template["Conditions"][REPORT_CONDITION]
    required = {
        term["Fn::Not"][0]["Fn::Equals"][0]["Ref"]
        for term in condition["Fn::And"]
        if term["Fn::Not"][0]["Fn::Equals"][1] == ""
    }
    assert required == {"ReportImageUri", "ReportCertificateArn", "ReportDomainName"}
    # the default deploy stays cheap: no report unless those are given
    assert all(template["Parameters"][name]["Default"] == "" for name in required)


def test_everything_report_related_carries_the_condition(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    ids = report_ids(resources)
    kinds = {resources[name]["Type"] for name in ids}
    assert kinds >= {
        "AWS::Cognito::UserPool",
        "AWS::Cognito::UserPoolClient",
        "AWS::Cognito::UserPoolDomain",
        "AWS::ECS::Cluster",
        "AWS::ECS::TaskDefinition",
        "AWS::ECS::Service",
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        "AWS::ElasticLoadBalancingV2::Listener",
        "AWS::ElasticLoadBalancingV2::TargetGroup",
        "AWS::EC2::SecurityGroup",
        "AWS::IAM::Role",
        "AWS::Logs::LogGroup",
    }
    report_parameters = {name for name in template["Parameters"] if name.startswith("Report")}
    for name, resource in resources.items():
        touches = referenced(resource.get("Properties", {})) & (ids | report_parameters)
        if name in ids or touches:
            assert resource.get("Condition") == REPORT_CONDITION, (name, touches)
    for name, output in template["Outputs"].items():
        if referenced(output["Value"]) & (ids | report_parameters):
            assert output.get("Condition") == REPORT_CONDITION, name
    assert template["Outputs"]["ReportUrl"]["Value"] == {"Fn::Sub": "https://${ReportDomainName}/"}


def listeners(resources: dict[str, Any]) -> dict[int, dict[str, Any]]:
    found = of_type(resources, "AWS::ElasticLoadBalancingV2::Listener")
    return {int(r["Properties"]["Port"]): r["Properties"] for r in found.values()}


def test_https_listener_signs_users_in_with_cognito_before_forwarding(
    resources: dict[str, Any],
) -> None:
    by_port = listeners(resources)
    assert set(by_port) == {443, 80}
    https = by_port[443]
    assert https["Protocol"] == "HTTPS"
    assert https["Certificates"] == [{"CertificateArn": {"Ref": "ReportCertificateArn"}}]
    assert https["SslPolicy"].startswith("ELBSecurityPolicy-TLS13-1-2")
    actions = sorted(https["DefaultActions"], key=lambda a: int(a["Order"]))
    assert [a["Type"] for a in actions] == ["authenticate-cognito", "forward"]
    cognito = actions[0]["AuthenticateCognitoConfig"]
    assert cognito["UserPoolArn"] == getatt("ReportUserPool", "Arn")
    assert cognito["UserPoolClientId"] == {"Ref": "ReportUserPoolClient"}
    assert cognito["UserPoolDomain"] == {"Ref": "ReportUserPoolDomain"}
    # an unauthenticated request is sent to sign in, never let through
    assert cognito["OnUnauthenticatedRequest"] == "authenticate"
    assert actions[1]["TargetGroupArn"] == {"Ref": "ReportTargetGroup"}
    # no listener rule could route around the default actions
    assert not of_type(resources, "AWS::ElasticLoadBalancingV2::ListenerRule")


def test_port_80_only_redirects_to_https(resources: dict[str, Any]) -> None:
    http = listeners(resources)[80]
    assert http["Protocol"] == "HTTP"
    (action,) = http["DefaultActions"]
    assert action["Type"] == "redirect"
    assert action["RedirectConfig"]["Protocol"] == "HTTPS"
    assert str(action["RedirectConfig"]["Port"]) == "443"
    assert action["RedirectConfig"]["StatusCode"] == "HTTP_301"


def test_cognito_lets_only_admin_created_users_back_to_the_albs_callback(
    resources: dict[str, Any],
) -> None:
    pool = resources["ReportUserPool"]["Properties"]
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True  # no self sign-up
    client = resources["ReportUserPoolClient"]["Properties"]
    assert client["UserPoolId"] == {"Ref": "ReportUserPool"}
    assert client["GenerateSecret"] is True  # the ALB needs a client secret
    assert client["AllowedOAuthFlows"] == ["code"]
    assert client["AllowedOAuthFlowsUserPoolClient"] is True
    assert "openid" in client["AllowedOAuthScopes"]
    assert client["CallbackURLs"] == [{"Fn::Sub": "https://${ReportDomainName}/oauth2/idpresponse"}]
    assert resources["ReportUserPoolDomain"]["Properties"]["UserPoolId"] == {
        "Ref": "ReportUserPool"
    }


def test_report_task_role_reads_only_analytics_and_the_ingest_manifests(
    resources: dict[str, Any],
) -> None:
    statements = allow_statements(resources, "ReportTaskRole")
    assert statements
    by_action: dict[str, list[str]] = {}
    for statement in statements:
        assert not referenced(statement) & {"LandingBucket", "QuarantineBucket"}, statement
        for action in as_list(statement["Action"]):
            by_action.setdefault(action, []).extend(
                sub_resource(r) for r in as_list(statement["Resource"])
            )
    assert set(by_action) == {"s3:GetObject", "s3:ListBucket"}  # read-only
    for arn in by_action["s3:GetObject"]:
        assert arn.startswith("${AnalyticsBucket.Arn}/") or arn.startswith(
            ("${CuratedBucket.Arn}/_manifests/", "${CuratedBucket.Arn}/_index/")
        ), arn
    assert sorted(by_action["s3:ListBucket"]) == ["${AnalyticsBucket.Arn}", "${CuratedBucket.Arn}"]
    # listing curated is limited to the manifests' and the index's prefixes
    (curated_list,) = [
        s
        for s in statements
        if "s3:ListBucket" in as_list(s["Action"])
        and s["Resource"] == getatt("CuratedBucket", "Arn")
    ]
    prefixes = as_list(curated_list["Condition"]["StringLike"]["s3:prefix"])
    assert prefixes and all(p.startswith(("_manifests/", "_index/")) for p in prefixes)


def test_report_task_role_covers_every_key_the_report_reads(resources: dict[str, Any]) -> None:
    from fnmatch import fnmatchcase

    from frontend import data

    granted = [
        sub_resource(r)
        for s in allow_statements(resources, "ReportTaskRole")
        if "s3:GetObject" in as_list(s["Action"])
        for r in as_list(s["Resource"])
    ]
    analytics = [
        data.MODELS_LATEST,
        data.metrics_key("20261128T031500Z-ab12cd"),
        data.predictions_key("20261128T031500Z-ab12cd"),
        data.summary_key("20261128T031500Z-ab12cd"),
        data.FEATURES_RUNS_PREFIX + "20261128T031500Z-ab12cd.json",
    ]
    curated = [data.MANIFESTS_PREFIX + "transactions/abc.json", data.MANIFEST_INDEX_KEY]
    for bucket, keys in (("AnalyticsBucket", analytics), ("CuratedBucket", curated)):
        for key in keys:
            arn = f"${{{bucket}.Arn}}/{key}"
            assert any(fnmatchcase(arn, pattern) for pattern in granted), arn
    # and no curated data file
    data_file = "${CuratedBucket.Arn}/transactions/event_month=2026-11/x-1-0.parquet"
    assert not any(fnmatchcase(data_file, pattern) for pattern in granted)


def test_report_task_is_reachable_only_from_the_load_balancer(
    resources: dict[str, Any],
) -> None:
    task_sg = resources["ReportTaskSecurityGroup"]["Properties"]
    assert "SecurityGroupIngress" not in task_sg
    ingress = [
        r["Properties"]
        for r in of_type(resources, "AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"]["GroupId"] == getatt("ReportTaskSecurityGroup", "GroupId")
    ]
    assert ingress == [
        {
            "Description": ingress[0]["Description"],
            "GroupId": getatt("ReportTaskSecurityGroup", "GroupId"),
            "IpProtocol": "tcp",
            "FromPort": 8501,
            "ToPort": 8501,
            "SourceSecurityGroupId": getatt("ReportLoadBalancerSecurityGroup", "GroupId"),
        }
    ]
    alb_ingress = resources["ReportLoadBalancerSecurityGroup"]["Properties"]["SecurityGroupIngress"]
    assert sorted(int(r["FromPort"]) for r in alb_ingress) == [80, 443]
    assert all(r["CidrIp"] == {"Ref": "ReportAllowedCidr"} for r in alb_ingress)
    service = resources["ReportService"]["Properties"]
    network = service["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["SecurityGroups"] == [getatt("ReportTaskSecurityGroup", "GroupId")]
    assert network["AssignPublicIp"] == {"Ref": "ReportAssignPublicIp"}
    assert resources["ReportLoadBalancer"]["Properties"]["Scheme"] == "internet-facing"


def test_report_container_reads_the_zones_the_report_expects(resources: dict[str, Any]) -> None:
    from frontend import data

    task = resources["ReportTaskDefinition"]["Properties"]
    assert task["TaskRoleArn"] == getatt("ReportTaskRole", "Arn")
    assert task["ExecutionRoleArn"] == getatt("ReportTaskExecutionRole", "Arn")
    assert task["RequiresCompatibilities"] == ["FARGATE"]
    (container,) = task["ContainerDefinitions"]
    assert container["Image"] == {"Ref": "ReportImageUri"}
    assert [p["ContainerPort"] for p in container["PortMappings"]] == [8501]
    env = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert env[data.ENV_ANALYTICS] == {"Fn::Sub": "s3://${AnalyticsBucket}"}
    assert env[data.ENV_CURATED] == {"Fn::Sub": "s3://${CuratedBucket}"}
    assert env[data.ENV_QUARANTINE] == {"Fn::Sub": "s3://${QuarantineBucket}"}  # shown only
    assert container["LogConfiguration"]["Options"]["awslogs-group"] == {"Ref": "ReportLogGroup"}
    target_group = resources["ReportTargetGroup"]["Properties"]
    assert target_group["HealthCheckPath"] == "/_stcore/health"
    assert int(target_group["Port"]) == 8501


def test_report_execution_role_pulls_only_the_report_image(resources: dict[str, Any]) -> None:
    statements = allow_statements(resources, "ReportTaskExecutionRole")
    pull = [s for s in statements if "ecr:BatchGetImage" in as_list(s["Action"])]
    (statement,) = pull
    text, variables = statement["Resource"]["Fn::Sub"]
    assert text.endswith(":repository/${ImageRepository}")
    assert referenced(variables) == {"ReportImageUri"}
    logs = [s for s in statements if "logs:PutLogEvents" in as_list(s["Action"])]
    assert [s["Resource"] for s in logs] == [getatt("ReportLogGroup", "Arn")]
