"""The read model is defined once (``records``): every surface shows exactly its fields.

The API serializers, the admin change pages, ``scoria_runs show`` and the evidence page
are built from the definitions; these tests fail as soon as one of them lists a field
the read model does not have, or misses one it has.
"""

import dataclasses
import io
import json

import pytest
from django.contrib import admin
from django.contrib.admin.utils import label_for_field
from django.contrib.auth.models import User
from django.core.management import call_command
from django.urls import reverse
from django.utils.text import capfirst

import scoria_django as scoria
from scoria_django import records
from scoria_django.admin import admin_field
from scoria_django.api import serializers
from scoria_django.management import render
from scoria_django.models import Event, Handoff, Run, Step
from scoria_django.records import (
    DELEGATED_HANDOFF_FIELDS,
    EVENT_FIELDS,
    HANDOFF_FIELDS,
    RUN_DETAIL_FIELDS,
    STEP_FIELDS,
    SUMMARY_FIELDS,
    RunDetail,
    RunSummary,
    handoff_status,
)
from scoria_django.states import CHILD_STEP_PENDING, StepStatus
from tests.factories import EventFactory, HandoffFactory, RunFactory, StepFactory


def field_names(serializer_class):
    return tuple(serializer_class().fields)


def test_the_dataclasses_are_the_summary_and_detail_definitions():
    assert tuple(f.name for f in dataclasses.fields(RunSummary)) == SUMMARY_FIELDS
    assert tuple(f.name for f in dataclasses.fields(RunDetail)) == RUN_DETAIL_FIELDS


def test_api_serializers_have_exactly_the_read_model_fields():
    assert field_names(serializers.RunSummarySerializer) == SUMMARY_FIELDS
    assert field_names(serializers.RunDetailSerializer) == RUN_DETAIL_FIELDS
    assert set(field_names(serializers.StepSerializer)) == set(STEP_FIELDS)
    assert field_names(serializers.StepRowSerializer) == tuple(
        spec.name for spec in records.STEP_ROW if spec.listed
    )
    assert field_names(serializers.EventSerializer) == EVENT_FIELDS
    assert field_names(serializers.HandoffSerializer) == HANDOFF_FIELDS
    assert field_names(serializers.DelegatedHandoffSerializer) == DELEGATED_HANDOFF_FIELDS


def handoff_run():
    """A run with a linked, an unlinked and a pending handoff, and events."""
    run = RunFactory(tenant_id="acme")
    parent = StepFactory(run=run, kind="handoff", role_id="planner")
    HandoffFactory(run=run, parent_step=parent, capability_tags=["read"])
    unlinked = StepFactory(
        run=run, parent_step=parent, kind="legal", role_id="lawyer", status=StepStatus.RUNNING
    )
    HandoffFactory(
        run=run,
        parent_step=parent,
        child_step=None,
        delegated_role_id="lawyer",
        delegated_kind="legal",
    )
    HandoffFactory(run=run, parent_step=parent, child_step=None, delegated_role_id="auditor")
    EventFactory(run=run, step=parent)
    EventFactory(run=run, step=unlinked)
    return run


@pytest.mark.django_db
def test_get_run_detail_rows_have_exactly_the_defined_keys():
    detail = scoria.get_run_detail(handoff_run().pk)

    assert tuple(detail.as_dict()) == RUN_DETAIL_FIELDS
    assert tuple(detail.summary.as_dict()) == SUMMARY_FIELDS
    assert [tuple(row) for row in detail.steps] == [STEP_FIELDS] * 3
    assert [tuple(row) for row in detail.events] == [EVENT_FIELDS] * 2
    assert [tuple(row) for row in detail.handoffs] == [HANDOFF_FIELDS] * 3
    assert [tuple(item) for item in detail.delegated_handoffs] == [DELEGATED_HANDOFF_FIELDS] * 3


@pytest.mark.django_db
def test_scoria_runs_show_json_prints_the_read_model_rows():
    run = handoff_run()
    out = io.StringIO()
    call_command("scoria_runs", "show", str(run.pk), "--json", stdout=out)
    data = json.loads(out.getvalue())

    assert set(data) == set(RUN_DETAIL_FIELDS)
    assert set(data["summary"]) == set(SUMMARY_FIELDS)
    assert {frozenset(row) for row in data["steps"]} == {frozenset(STEP_FIELDS)}
    assert {frozenset(row) for row in data["events"]} == {frozenset(EVENT_FIELDS)}
    assert {frozenset(row) for row in data["handoffs"]} == {frozenset(HANDOFF_FIELDS)}
    assert {frozenset(row) for row in data["delegated_handoffs"]} == {
        frozenset(DELEGATED_HANDOFF_FIELDS)
    }


def test_the_command_text_shows_read_model_fields_by_name():
    assert set(render.LIST_COLUMNS) <= set(SUMMARY_FIELDS)
    assert set(render.STEP_OUTCOMES) <= set(STEP_FIELDS)


NESTED = {
    records.Shape.SUMMARY,
    records.Shape.STEP_ROWS,
    records.Shape.EVENT_ROWS,
    records.Shape.HANDOFF_ROWS,
    records.Shape.DELEGATED_HANDOFFS,
}


@pytest.mark.parametrize(
    ("model", "row"),
    [
        (Run, (*records.RUN_SUMMARY, *records.RUN_DETAIL)),
        (Step, records.STEP_ROW),
        (Event, records.EVENT_ROW),
        (Handoff, records.HANDOFF_ROW),
    ],
)
@pytest.mark.django_db
def test_admin_change_pages_show_the_read_model_and_the_storage_columns(client, model, row):
    client.force_login(User.objects.create_superuser("root", password="pw"))
    run = handoff_run()
    obj = model.objects.filter(run=run).first() if model is not Run else run
    model_admin = admin.site._registry[model]
    url = reverse(f"admin:scoria_django_{model._meta.model_name}_change", args=[obj.pk])
    html = client.get(url).content.decode()

    expected = [admin_field(model, spec) for spec in row if spec.shape not in NESTED]
    assert sorted(model_admin.fields) == sorted({*expected, *model_admin.storage_fields})
    assert len(set(expected)) == len(expected)  # one page field per read-model field
    for name in expected:
        label = capfirst(label_for_field(name, model, model_admin))
        assert f"<label>{label}:</label>" in html, name


@pytest.mark.django_db
def test_admin_payloads_are_the_json_fields_of_the_row_and_are_redacted(client):
    client.force_login(User.objects.create_superuser("root", password="pw"))
    step = StepFactory(resumed_with={"token": "secret-token-value"})
    html = client.get(reverse("admin:scoria_django_step_change", args=[step.pk])).content.decode()

    payloads = [name for name in admin.site._registry[Step].fields if name.endswith("_redacted")]
    assert payloads == [
        f"{spec.name}_redacted" for spec in records.STEP_ROW if spec.shape is records.Shape.JSON
    ]
    assert "secret-token-value" not in html and "[redacted]" in html


def test_handoff_status_follows_the_child_step_or_is_pending():
    assert handoff_status(None) == CHILD_STEP_PENDING
    assert handoff_status(Step(status=StepStatus.FAILED)) == "failed"


@pytest.mark.django_db
def test_every_surface_gives_a_handoff_the_same_status():
    run = handoff_run()
    detail = scoria.get_run_detail(run.pk)
    by_id = {h.pk: h for h in Handoff.objects.filter(run=run)}

    model_statuses = {str(pk): handoff.status for pk, handoff in by_id.items()}
    row_statuses = {row["id"]: row["status"] for row in detail.handoffs}
    assert row_statuses == model_statuses
    assert sorted(model_statuses.values()) == sorted(
        ["queued", CHILD_STEP_PENDING, CHILD_STEP_PENDING]
    )
    # The delegated evidence also matches an unlinked child by role and kind.
    delegated = detail.delegated_handoffs
    for item in delegated:
        assert item["status"] == item["child_status"]
        assert (item["status"] == CHILD_STEP_PENDING) == (item["child_step_id"] is None)
    assert sorted(item["status"] for item in delegated) == sorted(
        ["queued", "running", CHILD_STEP_PENDING]
    )
