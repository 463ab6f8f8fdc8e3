"""The state machines as the template deploys them: substitutions, step names, least privilege."""

from __future__ import annotations

import json
from typing import Any

from lakedrop.pipeline import PIPELINE_DEFINITION, STEPS, TRIGGER_DEFINITION
from tests.statemachine.conftest import placeholders
from tests.test_template import allow_statements, as_list, load_template, referenced


def machine(logical_id: str) -> dict[str, Any]:
    props: dict[str, Any] = load_template()["Resources"][logical_id]["Properties"]
    return props


def test_every_placeholder_is_substituted_by_the_template() -> None:
    for logical_id, path in (
        ("PipelineStateMachine", PIPELINE_DEFINITION),
        ("PipelineTriggerStateMachine", TRIGGER_DEFINITION),
    ):
        props = machine(logical_id)
        assert props["DefinitionUri"] == f"statemachine/{path.name}"
        assert set(props["DefinitionSubstitutions"]) == placeholders(path), logical_id


def test_the_pipeline_has_the_shared_steps_and_sends_every_failure_to_the_alert() -> None:
    states = json.loads(PIPELINE_DEFINITION.read_text(encoding="utf-8"))["States"]
    assert set(STEPS) <= set(states)
    tasks = {n: s for n, s in states.items() if s["Type"] == "Task" and n != "NotifyFailure"}
    for name, state in tasks.items():
        assert [c["Next"] for c in state["Catch"]] == ["NotifyFailure"], name
        assert state["Catch"][0]["ErrorEquals"] == ["States.ALL"], name
        assert state["Retry"], name
    # the optimised integrations that wait for the job (moto cannot run these two)
    assert states["Training"]["Resource"] == "arn:aws:states:::sagemaker:createTrainingJob.sync"
    assert states["FeaturesOnEmrServerless"]["Resource"] == (
        "arn:aws:states:::emr-serverless:startJobRun.sync"
    )
    assert states["FeaturesOnGlue"]["Resource"] == "arn:aws:states:::glue:startJobRun.sync"
    assert states["Publish"]["Next"] == "Done"


def test_features_job_cannot_touch_landing_or_quarantine_or_published_outputs() -> None:
    resources = load_template()["Resources"]
    statements = allow_statements(resources, "FeaturesJobRole")
    touched = set().union(*(referenced(s["Resource"]) for s in statements))
    assert not touched & {"LandingBucket", "QuarantineBucket"}
    writes = [
        r
        for s in statements
        if set(as_list(s["Action"])) & {"s3:PutObject", "s3:DeleteObject"}
        for r in as_list(s["Resource"])
    ]
    assert writes == [{"Fn::Sub": "${AnalyticsBucket.Arn}/features/*"}]


def test_publish_function_writes_only_the_run_outputs() -> None:
    resources = load_template()["Resources"]
    statements = allow_statements(resources, "PublishFunctionRole")
    puts = [
        r
        for s in statements
        if "s3:PutObject" in as_list(s["Action"])
        for r in as_list(s["Resource"])
    ]
    assert puts == [
        {"Fn::Sub": "${AnalyticsBucket.Arn}/models/*"},
        {"Fn::Sub": "${AnalyticsBucket.Arn}/metrics/*"},
        {"Fn::Sub": "${AnalyticsBucket.Arn}/predictions/*"},
    ]
    actions = {a for s in statements for a in as_list(s["Action"])}
    assert not {a for a in actions if a.startswith("s3:Delete")}


def test_ingest_announces_objects_on_the_pipeline_bus() -> None:
    resources = load_template()["Resources"]
    env = resources["IngestFunction"]["Properties"]["Environment"]["Variables"]
    assert env["EVENT_BUS_NAME"] == {"Ref": "PipelineEventBus"}
    puts = [
        s
        for s in allow_statements(resources, "IngestFunctionRole")
        if "events:PutEvents" in as_list(s["Action"])
    ]
    assert [s["Resource"] for s in puts] == [{"Fn::GetAtt": ["PipelineEventBus", "Arn"]}]
    events = machine("PipelineTriggerStateMachine")["Events"]["IngestEvents"]["Properties"]
    assert events["EventBusName"] == {"Ref": "PipelineEventBus"}
    daily = machine("PipelineStateMachine")["Events"]["Daily"]["Properties"]
    assert daily["ScheduleExpressionTimezone"] == {"Ref": "PipelineTimezone"}
    assert load_template()["Parameters"]["PipelineTimezone"]["Default"] == "Asia/Seoul"
