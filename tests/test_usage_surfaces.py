"""Model usage and agent state where people read them: the API (and its schema), the
evidence page, the admin run page and ``scoria_runs stats`` (docs/agents.md#usage)."""

import datetime
import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

import scoria_django as scoria
from scoria_django.models import Run
from tests import async_handlers
from tests.api_support import client_for, make_user
from tests.factories import RunFactory, StepFactory
from tests.test_api_schema import CHECKS, basic_auth, fetch_schema
from tests.test_evidence_page import make_operator, page_url

pytestmark = pytest.mark.django_db(transaction=True)

PRICES = {"priced-model": {"input": 2.5, "output": 10.0}}
# async_handlers.sync_usage: 1500 in / 300 out of priced-model, 300 in of free-model.
COST = 0.00675
API = "/api/scoria/"


def start_with_usage(tenant_id="acme", handler=async_handlers.sync_usage):
    return scoria.start_run(
        {"actor_id": "u1", "tenant_id": tenant_id, "session_id": "s1"},
        initial_step={"kind": "agent", "role_id": "executor"},
        handlers={"agent": handler},
    )


def run_command(*args):
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


# -- API -------------------------------------------------------------------------------


@override_settings(SCORIA_TENANT_RESOLVER="tests.api_support.tenant_of_user")
def test_the_api_shows_the_runs_usage_and_the_steps_usage():
    run = start_with_usage()
    idle = start_with_usage(handler="tests.handlers.echo")
    client = client_for(make_user("acme.alice"))

    summary = client.get(f"{API}runs/{run.run_id}/").json()
    assert summary["usage"] == {
        "input_tokens": 1800,
        "output_tokens": 300,
        "requests": 4,
        "model": "priced-model",
        "models": {
            "priced-model": {"input_tokens": 1500, "output_tokens": 300, "requests": 2},
            "free-model": {"input_tokens": 300, "output_tokens": 0, "requests": 2},
        },
    }
    assert client.get(f"{API}runs/{idle.run_id}/").json()["usage"] is None
    listed = {item["run_id"]: item["usage"] for item in client.get(f"{API}runs/").json()["results"]}
    assert listed == {run.run_id: summary["usage"], idle.run_id: None}

    # The step list carries usage; the agent state is a large payload: detail only.
    [step] = client.get(f"{API}runs/{run.run_id}/steps/").json()["results"]
    assert step["usage"] == summary["usage"]
    assert "agent_state" not in step
    [detailed] = client.get(f"{API}runs/{run.run_id}/detail/").json()["steps"]
    assert detailed["agent_state"] == {"notes": ["one"]}
    assert detailed["usage"] == summary["usage"]


@override_settings(
    SCORIA_TENANT_RESOLVER="tests.api_support.tenant_of_user", SCORIA_MODEL_PRICES=PRICES
)
def test_the_api_prices_usage_when_prices_are_set():
    run = start_with_usage()
    client = client_for(make_user("acme.alice"))
    usage = client.get(f"{API}runs/{run.run_id}/").json()["usage"]
    assert usage["cost"] == pytest.approx(COST)
    assert usage["unpriced_models"] == ["free-model"]
    [step] = client.get(f"{API}runs/{run.run_id}/steps/").json()["results"]
    assert step["usage"]["cost"] == usage["cost"]


def test_the_schema_describes_usage_as_an_object():
    schema = fetch_schema(make_user("acme.alice"))
    components = schema["components"]["schemas"]
    usage = components["Usage"]
    assert set(usage["properties"]) == {
        "input_tokens",
        "output_tokens",
        "requests",
        "model",
        "models",
        "cost",
        "unpriced_models",
    }
    # cost and unpriced_models appear only when prices are set.
    assert set(usage["required"]) == {
        "input_tokens",
        "output_tokens",
        "requests",
        "model",
        "models",
    }
    assert usage["properties"]["models"]["additionalProperties"] == {
        "$ref": "#/components/schemas/ModelUsage"
    }
    assert usage["properties"]["model"]["nullable"] is True
    # The object or null, in a form Redocly, Schemathesis and openapi-python-client
    # (tests/test_api_client.py) all read as such.
    summary_usage = components["RunSummary"]["properties"]["usage"]
    assert summary_usage["oneOf"] == [
        {"$ref": "#/components/schemas/Usage"},
        {"type": "object", "nullable": True, "enum": [None]},
    ]
    assert "nullable" not in summary_usage
    steps = components["StepRow"]["properties"]
    assert "usage" in steps and "agent_state" not in steps
    assert "agent_state" in components["Step"]["properties"]


@pytest.mark.parametrize("prices", [None, PRICES])
def test_answers_with_usage_keep_to_the_schema(settings, prices):
    """Schemathesis's response checks on real answers that carry usage, priced or not."""
    import schemathesis
    from django.core.wsgi import get_wsgi_application

    settings.SCORIA_TENANT_RESOLVER = "tests.api_support.tenant_of_user"
    settings.SCORIA_MODEL_PRICES = prices
    settings.ALLOWED_HOSTS = ["localhost", "testserver"]
    make_user("acme.alice")
    run = start_with_usage()
    schema = schemathesis.openapi.from_wsgi(
        API + "schema/?format=json", get_wsgi_application(), headers=basic_auth()
    )
    for path in ("runs/", "runs/{run_id}/", "runs/{run_id}/steps/", "runs/{run_id}/detail/"):
        operation = schema[API + path]["GET"]
        parameters = {"run_id": run.run_id} if "{run_id}" in path else {}
        case = operation.Case(path_parameters=parameters, headers=basic_auth())
        response = case.call_and_validate(checks=CHECKS)
        assert response.status_code == 200
        assert "priced-model" in response.text
        assert ("unpriced_models" in response.text) is (prices is not None)


# -- evidence page and admin ---------------------------------------------------------------


def _run_with_usage_and_state(client):
    client.force_login(make_operator("ops"))
    usage = {
        "input_tokens": 1500,
        "output_tokens": 300,
        "requests": 2,
        "model": "priced-model",
        "models": {"priced-model": {"input_tokens": 1500, "output_tokens": 300, "requests": 2}},
    }
    other = {
        "input_tokens": 300,
        "output_tokens": 0,
        "requests": 2,
        "model": "free-model",
        "models": {"free-model": {"input_tokens": 300, "output_tokens": 0, "requests": 2}},
    }
    total = {
        "input_tokens": 1800,
        "output_tokens": 300,
        "requests": 4,
        "model": "free-model",
        "models": {**usage["models"], **other["models"]},
    }
    run = RunFactory(usage=total)
    StepFactory(
        run=run,
        sequence=1,
        usage=usage,
        agent_state={"messages": ["hi"], "api_key": "sk-live-abcdefghijklmnop1234"},
    )
    StepFactory(run=run, sequence=2, usage=other)
    return run


def test_the_evidence_page_shows_usage_totals_per_step_and_the_agent_state(client):
    run = _run_with_usage_and_state(client)
    html = client.get(page_url(run.pk)).content.decode()
    run_usage = html.split('id="scoria-run-usage"')[1].split("</dd>")[0]
    assert "1800 input tokens, 300 output tokens, 4 requests" in run_usage
    assert "<code>free-model</code>: 300 in, 0 out, 2 requests" in run_usage
    assert "<code>priced-model</code>: 1500 in, 300 out, 2 requests" in run_usage
    assert "cost" not in run_usage  # no prices: no cost
    steps = html.split('id="scoria-steps"')[1]
    assert steps.count('class="scoria-step-usage"') == 2
    assert "Model usage: <span" in steps
    # The agent state is evidence: collapsed, redacted like every payload.
    assert '<details class="scoria-payload"><summary>Agent state</summary>' in steps
    assert "&quot;messages&quot;" in steps
    assert "sk-live-abcdefghijklmnop1234" not in html


def test_the_evidence_page_shows_cost_and_unpriced_models_when_priced(client, settings):
    run = _run_with_usage_and_state(client)
    settings.SCORIA_MODEL_PRICES = PRICES
    html = client.get(page_url(run.pk)).content.decode()
    run_usage = html.split('id="scoria-run-usage"')[1].split("</dd>")[0]
    assert f'cost <span class="scoria-cost">{COST}</span>' in run_usage
    assert "No price for: <code>free-model</code>" in run_usage


def test_a_run_without_usage_shows_a_dash(client):
    client.force_login(make_operator("ops"))
    run = RunFactory()
    StepFactory(run=run, sequence=1)
    html = client.get(page_url(run.pk)).content.decode()
    assert '<dd id="scoria-run-usage">—</dd>' in html
    assert "scoria-step-usage" not in html


def test_the_admin_run_and_step_pages_show_the_priced_usage(client, settings):
    run = _run_with_usage_and_state(client)
    client.force_login(make_user("root", is_staff=True, is_superuser=True))
    settings.SCORIA_MODEL_PRICES = PRICES
    html = client.get(reverse("admin:scoria_django_run_change", args=[run.pk])).content.decode()
    assert "model usage" in html.lower()
    assert "&quot;cost&quot;: 0.00675" in html
    assert "&quot;unpriced_models&quot;" in html
    step = run.steps.get(sequence=1)
    html = client.get(reverse("admin:scoria_django_step_change", args=[step.pk])).content.decode()
    assert "&quot;cost&quot;: 0.00675" in html
    assert "sk-live-abcdefghijklmnop1234" not in html  # the agent state, redacted
    assert "&quot;messages&quot;" in html


# -- scoria_runs stats ---------------------------------------------------------------------


def _usage_runs():
    """Two tenants today, one run of acme yesterday and one of acme ten days ago."""
    today = [start_with_usage("acme"), start_with_usage("acme"), start_with_usage("globex")]
    yesterday = start_with_usage("acme", handler=async_handlers.twins)
    old = start_with_usage("acme")
    now = timezone.now()
    Run.objects.filter(pk=yesterday.run_id).update(created_at=now - datetime.timedelta(days=1))
    Run.objects.filter(pk=old.run_id).update(created_at=now - datetime.timedelta(days=10))
    start_with_usage("acme", handler="tests.handlers.echo")  # no model request: not counted
    return today, yesterday, old


def test_stats_totals_usage_per_tenant_and_day():
    _usage_runs()
    stats = json.loads(run_command("scoria_runs", "stats", "--json"))
    today = timezone.localdate()
    yesterday = today - datetime.timedelta(days=1)
    rows = [
        (row["day"], row["tenant_id"], row["runs"], row["input_tokens"], row["requests"])
        for row in stats["usage_by_day"]
    ]
    assert rows == [
        (str(today), "acme", 2, 3600, 8),
        (str(today), "globex", 1, 1800, 4),
        (str(yesterday), "acme", 1, 12, 3),
    ]
    assert stats["usage_days"] == 7
    assert stats["usage_total"]["input_tokens"] == 3600 + 1800 + 12
    assert "cost" not in stats["usage_total"]

    wider = json.loads(run_command("scoria_runs", "stats", "--json", "--days", "11"))
    assert [row["runs"] for row in wider["usage_by_day"]][-1] == 1  # ten days ago
    assert wider["usage_total"]["input_tokens"] == 3600 + 1800 + 12 + 1800
    only_today = json.loads(run_command("scoria_runs", "stats", "--json", "--days", "1"))
    assert {row["day"] for row in only_today["usage_by_day"]} == {str(today)}


def test_stats_for_one_tenant_scopes_everything():
    _usage_runs()
    stats = json.loads(run_command("scoria_runs", "stats", "--json", "--tenant", "globex"))
    assert stats["tenant_id"] == "globex"
    assert stats["runs_total"] == 1
    assert [row["tenant_id"] for row in stats["usage_by_day"]] == ["globex"]
    same = json.loads(run_command("scoria_runs", "stats", "--json", "--tenant-id", "globex"))
    assert same == stats


@override_settings(SCORIA_MODEL_PRICES=PRICES)
def test_stats_prices_usage_and_prints_a_table():
    _usage_runs()
    stats = json.loads(run_command("scoria_runs", "stats", "--json"))
    assert stats["usage_by_day"][0]["cost"] == pytest.approx(2 * COST)
    assert stats["usage_total"]["cost"] == pytest.approx(3 * COST)
    assert stats["usage_total"]["unpriced_models"] == ["free-model", "m1", "m2"]

    text = run_command("scoria_runs", "stats")
    lines = text.splitlines()
    heading = lines.index("Model usage, runs created in the last 7 days:")
    header, first, *_ = lines[heading + 1 :]
    assert header.split() == [
        "day",
        "tenant",
        "runs",
        "requests",
        "input",
        "tokens",
        "output",
        "tokens",
        "cost",
    ]
    assert first.split() == [str(timezone.localdate()), "acme", "2", "8", "3600", "600", "0.0135"]
    assert "  total" in text
    assert "Models: free-model, m1, m2, priced-model" in text
    assert "No price for: free-model, m1, m2 (their tokens are not in the cost)" in text


def test_stats_without_usage_says_so():
    text = run_command("scoria_runs", "stats")
    assert "Model usage, runs created in the last 7 days:\n  none recorded" in text
    assert json.loads(run_command("scoria_runs", "stats", "--json"))["usage_total"] is None


@pytest.mark.parametrize(
    "args",
    [
        ("--days", "0"),
        ("--days", "-3"),
        ("--days", "seven"),
        ("--days", "100000"),
        ("--tenant", ""),
        ("--tenant", "   "),
        ("--tenant", "x" * 256),
        ("--tenant", "nul\x00"),
    ],
)
def test_stats_refuses_bad_arguments_before_any_query(args, django_assert_num_queries):
    with django_assert_num_queries(0), pytest.raises(CommandError):
        run_command("scoria_runs", "stats", *args)


# -- a usage row edited by hand ------------------------------------------------------------

CORRUPT_USAGE = [
    ["a"],
    "lots",
    {"models": "x"},
    {"input_tokens": "x", "output_tokens": -5, "requests": True, "model": 7},
    {"models": {"m": "x", "": {"input_tokens": 3}, "n": {"input_tokens": 2}}},
]


@pytest.mark.parametrize("stored", CORRUPT_USAGE)
@override_settings(
    SCORIA_TENANT_RESOLVER="tests.api_support.tenant_of_user", SCORIA_MODEL_PRICES=PRICES
)
def test_a_usage_row_edited_by_hand_never_breaks_a_read_or_the_next_report(stored, client):
    run = start_with_usage()
    Run.objects.filter(pk=run.run_id).update(usage=stored)
    Run.objects.get(pk=run.run_id).steps.update(usage=stored)

    usage = scoria.get_run(run.run_id).usage
    assert usage is None or all(type(usage[name]) is int for name in ("input_tokens", "requests"))
    api = client_for(make_user("acme.alice"))
    assert api.get(f"{API}runs/").status_code == 200
    assert api.get(f"{API}runs/{run.run_id}/").status_code == 200
    assert api.get(f"{API}runs/{run.run_id}/steps/").status_code == 200
    client.force_login(make_operator("ops"))
    assert client.get(page_url(run.run_id)).status_code == 200
    assert "Traceback" not in run_command("scoria_runs", "stats")

    # The next report starts from what is readable of the row.
    from scoria_django.transitions import record_usage
    from scoria_django.usage import usage_entry

    step = Run.objects.get(pk=run.run_id).steps.get()
    assert record_usage(run.run_id, step.pk, usage_entry(input_tokens=1, model="n"))
    total = Run.objects.get(pk=run.run_id).usage
    assert total["input_tokens"] >= 1
    assert total["models"]["n"]["input_tokens"] >= 1
