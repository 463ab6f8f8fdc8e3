"""The debounce: ingest events -> one pipeline run once the landing has been quiet.

The events are really emitted by ``ingest.events`` to moto's EventBridge and matched by the
template's own rule pattern; moto's EventBridge cannot start a Step Functions target, so the
rule's target here is a queue and the test starts one trigger execution per delivered event,
as EventBridge would.
"""

from __future__ import annotations

import json
from typing import Any

from ingest import events
from tests.statemachine.conftest import Aws
from tests.test_template import load_template

BUS = "lakedrop-pipeline-test"


def manifest(n: int) -> dict[str, Any]:
    return {
        "dataset": "transactions",
        "source_id": f"{n:020x}",
        "status": "curated",
        "code": None,
        "rows": {"read": 10, "written": 9, "rejected": 1, "duplicates": 0, "lines_rejected": 1},
        "outputs": [{"key": "k", "partition": "2026-11", "rows": 9}],
        "processed_at": "2026-11-28T03:15:00+00:00",
    }


def rule_pattern() -> dict[str, Any]:
    resources = load_template()["Resources"]
    rule = resources["PipelineTriggerStateMachine"]["Properties"]["Events"]["IngestEvents"]
    pattern: dict[str, Any] = rule["Properties"]["Pattern"]
    return pattern


def test_many_ingest_events_start_one_pipeline_run(aws: Aws, trigger: str, pipeline: str) -> None:
    import boto3

    eventbridge = boto3.client("events")
    eventbridge.create_event_bus(Name=BUS)
    queue = aws.sqs.create_queue(QueueName="rule-target")["QueueUrl"]
    queue_arn = aws.sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    eventbridge.put_rule(Name="ingest", EventBusName=BUS, EventPattern=json.dumps(rule_pattern()))
    eventbridge.put_targets(
        Rule="ingest", EventBusName=BUS, Targets=[{"Id": "trigger", "Arn": queue_arn}]
    )
    publisher = events.EventBridgePublisher(eventbridge, BUS)
    for n in range(30):  # 30 files curated together
        publisher.publish(events.detail(manifest(n), f"_manifests/transactions/{n:020x}.json"))
    # quarantined and duplicate objects bring no new data: announced, but not matched
    publisher.publish(events.detail({**manifest(99), "status": "quarantined"}, None))
    publisher.publish(events.detail({**manifest(98), "status": "duplicate"}, None))

    delivered = []
    while batch := aws.sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get(
        "Messages", []
    ):
        delivered += [json.loads(m["Body"]) for m in batch]
        for m in batch:
            aws.sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
    assert len(delivered) == 30
    assert {e["detail"]["status"] for e in delivered} == {"curated"}
    assert delivered[0]["detail"]["rows"] == {
        "read": 10,
        "written": 9,
        "rejected": 1,
        "duplicates": 0,
    }
    assert delivered[0]["detail"]["partitions"] == ["2026-11"]

    started = [
        aws.sfn.start_execution(
            stateMachineArn=trigger, name=f"event-{i:03d}", input=json.dumps(event)
        )["executionArn"]
        for i, event in enumerate(delivered)
    ]
    results = [aws.wait(arn) for arn in started]
    assert {r["status"] for r in results} == {"SUCCEEDED"}
    # only the newest event's execution went on to start the pipeline
    last = [aws.entered(arn)[-1] for arn in started]
    assert last == ["Superseded"] * 29 + ["StartPipeline"]
    runs = aws.sfn.list_executions(stateMachineArn=pipeline)["executions"]
    assert len(runs) == 1
    run = aws.wait(runs[0]["executionArn"])
    assert run["status"] == "SUCCEEDED", run.get("cause")
    assert json.loads(run["input"])["trigger"] == "ingest"
