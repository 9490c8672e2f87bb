"""The management commands: thin wrappers over the facade, with CommandError for bad input."""

import datetime
import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings
from django.utils import timezone

import scoria_django as scoria
from scoria_django.models import Event, Handoff, Run, Step

# A urlconf without the operator pages, for the verifier's failure path.
urlpatterns = []

MISSING = "00000000-0000-4000-8000-000000000000"
APPROVAL_STEP = {"kind": "approval", "role_id": "executor"}


def run_command(*args):
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def waiting_run(session_id="conv-1", **metadata):
    return scoria.start_run(
        scoria.identity(actor_id="u1", session_id=session_id),
        initial_step=APPROVAL_STEP,
        metadata=metadata or None,
    )


def handoff_run(session_id="conv-1"):
    return scoria.start_handoff_run(
        scoria.identity(session_id=session_id),
        "critic",
        root_role_id="planner",
        delegated_kind="review",
        handoff_input={"brief": "check"},
        projected_context={"task": "review", "draft_answer": "x" * 200},
        capability_tags=["read"],
    )


def finished_days_ago(run_id, days):
    """Age a terminal run (test setup: the verbs always stamp the current time)."""
    when = timezone.now() - datetime.timedelta(days=days)
    Run.objects.filter(pk=run_id).update(completed_at=when, updated_at=when)


# -- scoria_runs list ------------------------------------------------------------------


@pytest.mark.django_db
def test_list_filters_like_the_api():
    first = Run.objects.start("s1", kind="import")
    Run.objects.start("s2", kind="import")
    done = Run.objects.start("s1", kind="report")
    Run.objects.complete(done.pk)

    lines = run_command("scoria_runs", "list", "--session-id", "s1").splitlines()
    assert lines[0].split()[:3] == ["RUN_ID", "STATUS", "KIND"]
    assert {line.split()[0] for line in lines[1:]} == {str(first.pk), str(done.pk)}

    listed = json.loads(
        run_command("scoria_runs", "list", "--session-id", "s1", "--status", "completed", "--json")
    )
    assert [item["run_id"] for item in listed] == [str(done.pk)]
    assert listed[0]["awaiting_approval"] is False

    kinds = json.loads(run_command("scoria_runs", "list", "--kind", "import", "--json"))
    assert len(kinds) == 2
    assert len(json.loads(run_command("scoria_runs", "list", "--limit", "1", "--json"))) == 1
    assert run_command("scoria_runs", "list", "--session-id", "nobody") == "No runs match.\n"


@pytest.mark.django_db
def test_list_by_tenant_and_time():
    scoria.start_run(scoria.identity(tenant_id="acme"))
    scoria.start_run(scoria.identity(tenant_id="other"))
    acme = json.loads(run_command("scoria_runs", "list", "--tenant-id", "acme", "--json"))
    assert [item["tenant_id"] for item in acme] == ["acme"]
    future = (timezone.now() + datetime.timedelta(hours=1)).isoformat()
    assert run_command("scoria_runs", "list", "--created-after", future) == "No runs match.\n"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--status", "sleeping"), "invalid_filter: --status"),
        (("--parent-run-id", "not-a-uuid"), "invalid_filter: --parent-run-id"),
        (("--created-after", "yesterday"), "invalid_filter: --created-after"),
        (("--limit", "0"), "must be greater than 0"),
        (("--stauts", "failed"), "unrecognized arguments"),
    ],
)
def test_list_rejects_bad_filters(args, message):
    with pytest.raises(CommandError, match=message):
        run_command("scoria_runs", "list", *args)


# -- scoria_runs show ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_show_prints_steps_delegated_evidence_and_events():
    started = handoff_run()
    text = run_command("scoria_runs", "show", started.run_id)
    assert text.startswith(f"Run {started.run_id}\n  status: running")
    assert "Steps (2):" in text
    assert "  #1 handoff [planner] completed" in text
    assert "    #2 review [critic] queued" in text  # indented under its parent
    assert "planner to critic: kind=review parent step #1 -> child step #2 status=queued" in text
    assert "context keys: draft_answer, task  capability tags: read" in text
    assert "handoff_created" in text


@pytest.mark.django_db(transaction=True)
def test_show_json_is_the_run_detail_with_secrets_redacted():
    started = waiting_run(api_key="sk-live-abcdefghijkl", channel="web")
    data = json.loads(run_command("scoria_runs", "show", started.run_id, "--json"))
    detail = scoria.get_run_detail(started.run_id)
    assert data["summary"]["run_id"] == started.run_id
    assert data["summary"]["status"] == "waiting_for_approval"
    assert [step["id"] for step in data["steps"]] == [step["id"] for step in detail.steps]
    assert len(data["events"]) == len(detail.events)
    assert data["metadata"]["api_key"] == "[redacted]"
    assert data["metadata"]["channel"] == "web"
    assert data["delegated_handoffs"] == []


@pytest.mark.django_db
def test_show_text_redacts_messages_and_capability_tags():
    from tests.factories import HandoffFactory, RunFactory, StepFactory

    run = RunFactory(status="failed", error={"message": "mysql://root:my-pw-1@db/app"})
    parent = StepFactory(run=run, kind="handoff", error={"message": "password=pw-2"})
    HandoffFactory(run=run, parent_step=parent, capability_tags=["read", "sk_live_abcdef123456"])

    text = run_command("scoria_runs", "show", str(run.pk))

    for leaked in ("my-pw-1", "pw-2", "sk_live_abcdef123456"):
        assert leaked not in text
    assert "mysql://root:[redacted]@db/app" in text
    assert "capability tags: read, [redacted]" in text


@pytest.mark.django_db
def test_show_errors():
    with pytest.raises(CommandError, match=f"not_found: run {MISSING} does not exist"):
        run_command("scoria_runs", "show", MISSING)
    with pytest.raises(CommandError, match="is not a run id"):
        run_command("scoria_runs", "show", "42")
    with pytest.raises(CommandError):
        run_command("scoria_runs")  # an action is required


# -- scoria_runs stats -----------------------------------------------------------------


@pytest.mark.django_db
def test_stats_counts_statuses_queue_age_and_expired_leases():
    queued = scoria.start_run(scoria.identity(), initial_step={"kind": "nohandler", "role_id": "r"})
    Step.objects.filter(run_id=queued.run_id).update(
        updated_at=timezone.now() - datetime.timedelta(minutes=10)
    )
    host_run = Run.objects.start("s1")
    stuck = Step.objects.start(host_run.pk)
    Step.objects.filter(pk=stuck.pk).update(
        lease_expires_at=timezone.now() - datetime.timedelta(minutes=1)
    )
    Run.objects.cancel(Run.objects.start("s2").pk)

    stats = json.loads(run_command("scoria_runs", "stats", "--json"))
    assert stats["runs_by_status"] == {
        "running": 2,
        "waiting_for_approval": 0,
        "completed": 0,
        "failed": 0,
        "cancelled": 1,
    }
    assert stats["runs_total"] == 3
    assert stats["queued_steps"] == 1
    assert 590 <= stats["oldest_queued_step_age_seconds"] < 3600
    assert stats["expired_leases"] == 1

    text = run_command("scoria_runs", "stats")
    assert "Oldest queued step age: 0:10:" in text
    assert "Expired leases (running steps past their lease): 1" in text


@pytest.mark.django_db
def test_stats_of_an_empty_database():
    stats = json.loads(run_command("scoria_runs", "stats", "--json"))
    assert stats["runs_total"] == 0
    assert stats["oldest_queued_step_age_seconds"] is None
    assert "Oldest queued step age: -" in run_command("scoria_runs", "stats")


# -- scoria_resume / scoria_cancel -----------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_resume_approves_the_same_run():
    started = waiting_run()
    out = run_command(
        "scoria_resume", started.run_id, "--actor-id", "ops-1", "--input", '{"ok": true}'
    )
    assert out == f"Resumed run {started.run_id}: completed\n"
    event = Event.objects.get(run_id=started.run_id, event_type="resume_requested")
    assert event.actor_id == "ops-1"
    assert event.payload["input"] == {"ok": True}
    assert Run.objects.count() == 1
    with pytest.raises(CommandError, match="not_resumable: "):
        run_command("scoria_resume", started.run_id)


@pytest.mark.django_db
def test_resume_bad_arguments():
    with pytest.raises(CommandError, match="not_found"):
        run_command("scoria_resume", MISSING)
    with pytest.raises(CommandError, match="not valid JSON"):
        run_command("scoria_resume", MISSING, "--input", "{nope")
    with pytest.raises(CommandError, match="is not a run id"):
        run_command("scoria_resume", "latest")


@pytest.mark.django_db(transaction=True)
def test_cancel_with_reason():
    started = waiting_run()
    out = run_command("scoria_cancel", started.run_id, "--reason", "duplicate request")
    assert out == f"Cancelled run {started.run_id}: cancelled\n"
    detail = scoria.get_run_detail(started.run_id)
    assert detail.cancel_reason == "duplicate request"
    assert [step["status"] for step in detail.steps] == ["cancelled"]
    with pytest.raises(CommandError, match="invalid_status_transition: "):
        run_command("scoria_cancel", started.run_id)


# -- scoria_prune ----------------------------------------------------------------------


@pytest.fixture
def aged_runs(transactional_db):
    old_done = handoff_run()  # queued child: cancel it to make it terminal
    scoria.cancel_run(old_done.run_id, reason="old")
    old_failed = Run.objects.start("s1")
    Run.objects.fail(old_failed.pk, {"reason": "boom"})
    recent = Run.objects.start("s1")
    Run.objects.complete(recent.pk)
    active = waiting_run()
    for run_id in (old_done.run_id, old_failed.pk):
        finished_days_ago(run_id, 40)
    return {
        "old_cancelled": str(old_done.run_id),
        "old_failed": str(old_failed.pk),
        "recent": str(recent.pk),
        "active": active.run_id,
    }


def remaining():
    return {str(pk) for pk in Run.objects.values_list("pk", flat=True)}


def test_prune_dry_run_counts_and_deletes_nothing(aged_runs):
    before = (Step.objects.count(), Event.objects.count(), Handoff.objects.count())
    out = run_command("scoria_prune", "--older-than", "30", "--dry-run")
    steps = Step.objects.filter(run_id__in=[aged_runs["old_cancelled"], aged_runs["old_failed"]])
    events = Event.objects.filter(run_id__in=[aged_runs["old_cancelled"], aged_runs["old_failed"]])
    assert out.startswith(
        f"Would delete 2 run(s), {steps.count()} step(s), 1 handoff(s) and "
        f"{events.count()} event(s)"
    )
    assert "Dry run: nothing done." in out
    assert remaining() == set(aged_runs.values())
    assert (Step.objects.count(), Event.objects.count(), Handoff.objects.count()) == before


def test_prune_deletes_old_terminal_runs_with_their_evidence(aged_runs):
    out = run_command("scoria_prune", "--older-than", "30")
    assert out.startswith("Deleted 2 run(s), 2 step(s), 1 handoff(s) and ")
    assert remaining() == {aged_runs["recent"], aged_runs["active"]}
    assert not Handoff.objects.exists()
    assert set(Event.objects.values_list("run_id", flat=True).distinct()) == {
        Run.objects.get(pk=aged_runs["recent"]).pk,
        Run.objects.get(pk=aged_runs["active"]).pk,
    }


def test_prune_by_status_and_age(aged_runs):
    run_command("scoria_prune", "--older-than", "30", "--status", "failed")
    assert aged_runs["old_failed"] not in remaining()
    assert aged_runs["old_cancelled"] in remaining()
    run_command("scoria_prune", "--older-than", "0", "--batch-size", "1")
    # Every terminal run is gone; the waiting run is never pruned.
    assert remaining() == {aged_runs["active"]}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "--older-than"),
        (("--older-than", "-3"), "is negative"),
        (("--older-than", "ten"), "is not a whole number"),
        (("--older-than", "3", "--status", "running"), "is not a terminal status"),
    ],
)
def test_prune_bad_arguments(args, message):
    with pytest.raises(CommandError, match=message):
        run_command("scoria_prune", *args)


# -- scoria_verify ---------------------------------------------------------------------

# The verifier runs the system checks, whose model checks ask every database about JSON.
ALL_DATABASES = pytest.mark.django_db(databases="__all__")


@ALL_DATABASES
def test_verify_adoption_passes_and_rolls_back():
    out = run_command("scoria_verify", "adoption")
    lines = [line for line in out.splitlines() if line[:4] in ("PASS", "FAIL", "SKIP")]
    assert [line.split(":")[0] for line in lines] == [
        "PASS  configuration",
        "PASS  database",
        "PASS  approval handler",
        "PASS  identity",
        "PASS  start_run",
        "PASS  store run_id",
        "PASS  get_run",
        "PASS  operator page",
        "PASS  resume_run",
        "PASS  same session, new run",
    ]
    assert "All 10 checks passed." in out
    assert not Run.objects.exists()


@ALL_DATABASES
def test_verify_runtime_to_handoff_with_a_handler_argument():
    out = run_command(
        "scoria_verify", "runtime-to-handoff", "--handler", "review=tests.handlers.review"
    )
    assert "PASS  delegated evidence: planner to critic, kind review, child step completed" in out
    assert "PASS  unsafe context rejected" in out
    assert "PASS  operator page evidence" in out
    assert "All 9 checks passed." in out
    assert not Run.objects.exists()


@ALL_DATABASES
def test_verify_fails_without_the_delegated_handler():
    out = io.StringIO()
    with pytest.raises(CommandError, match="checks failed") as raised:
        call_command("scoria_verify", "runtime-to-handoff", stdout=out)
    assert raised.value.returncode == 1
    text = out.getvalue()
    assert "FAIL  delegated handler: no handler for kind 'review'" in text
    assert "SKIP  bounded handoff: needs an earlier check" in text
    assert not Run.objects.exists()


@ALL_DATABASES
def test_verify_fails_when_the_step_does_not_pause():
    out = io.StringIO()
    with pytest.raises(CommandError, match="1 of 10 checks failed"):
        call_command("scoria_verify", "adoption", "--kind", "echo", stdout=out)
    assert "FAIL  resume_run: run is completed, not waiting_for_approval" in out.getvalue()


@ALL_DATABASES
@override_settings(ROOT_URLCONF="tests.test_commands")
def test_verify_fails_when_the_operator_pages_are_not_mounted():
    out = io.StringIO()
    with pytest.raises(CommandError, match="checks failed"):
        call_command("scoria_verify", "adoption", stdout=out)
    assert "FAIL  operator page: reverse('scoria:workflow_detail') failed" in out.getvalue()


@ALL_DATABASES
@override_settings(MIDDLEWARE=["scoria_django.middleware.ScoriaIdentityMiddleware"])
def test_verify_reports_failing_system_checks():
    out = io.StringIO()
    with pytest.raises(CommandError, match="checks failed"):
        call_command("scoria_verify", "adoption", stdout=out)
    assert "FAIL  configuration: scoria.E001" in out.getvalue()
    assert "SKIP  start_run" in out.getvalue()


@ALL_DATABASES
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("everything",), "invalid choice"),
        (("adoption", "--handler", "review"), "expected KIND=dotted.path"),
        (("adoption", "--kind", " "), "--kind must not be blank"),
    ],
)
def test_verify_bad_arguments(args, message):
    with pytest.raises(CommandError, match=message):
        run_command("scoria_verify", *args)


@ALL_DATABASES
def test_verify_handler_that_does_not_import():
    out = io.StringIO()
    with pytest.raises(CommandError, match="checks failed"):
        call_command(
            "scoria_verify", "adoption", "--handler", "approval=tests.nowhere.nothing", stdout=out
        )
    assert "FAIL  approval handler: handler_not_found:" in out.getvalue()


# -- scoria_approvals ------------------------------------------------------------------


def gated_run(tenant_id=None, **options):
    from tests import approval_handlers

    return scoria.start_run(
        scoria.identity(actor_id="author", tenant_id=tenant_id),
        initial_step={"kind": "gated", "role_id": "executor", "input": {"options": options}},
        handlers={"gated": approval_handlers.gated},
    )


def approval_id_of(run):
    from scoria_django.models import Approval

    return str(Approval.objects.get(run_id=run.run_id).pk)


@pytest.fixture
def lead(django_user_model):
    from django.contrib.auth.models import Group

    user = django_user_model.objects.create_user("lena", password="pw")
    user.groups.add(Group.objects.create(name="leads"))
    return user


@pytest.mark.django_db(transaction=True)
def test_approvals_list_status_run_tenant_and_mine(lead):
    anyone, for_leads = gated_run(), gated_run(groups=["leads"], expires_in=600)
    acme = gated_run(tenant_id="acme")
    scoria.reject(anyone.run_id, identity={"actor_id": "ops"})

    pending = json.loads(run_command("scoria_approvals", "list", "--json"))
    assert [row["approval_id"] for row in pending] == [approval_id_of(for_leads)]
    assert pending[0]["groups"] == ["leads"]
    every = json.loads(run_command("scoria_approvals", "list", "--status", "any", "--json"))
    assert len(every) == 2
    by_run = run_command("scoria_approvals", "list", "--status", "any", "--run", anyone.run_id)
    assert approval_id_of(anyone) in by_run and "rejected" in by_run
    assert approval_id_of(for_leads) not in by_run
    table = run_command("scoria_approvals", "list", "--tenant-id", "acme")
    assert table.splitlines()[0].split() == [
        "APPROVAL_ID",
        "STATUS",
        "TOOL_NAME",
        "RUN_ID",
        "REQUESTED_AT",
        "EXPIRES_AT",
        "MAY_DECIDE",
    ]
    assert approval_id_of(acme) in table and "anyone" in table
    mine = json.loads(run_command("scoria_approvals", "list", "--mine", "--as", "lena", "--json"))
    assert [row["approval_id"] for row in mine] == [approval_id_of(for_leads)]
    assert run_command("scoria_approvals", "list", "--status", "expired") == "No approvals match.\n"


@pytest.mark.django_db(transaction=True)
def test_approvals_approve_as_a_user_with_edited_arguments(lead):
    waiting = gated_run(groups=["leads"])
    approval_id = approval_id_of(waiting)

    out = run_command(
        "scoria_approvals",
        "approve",
        approval_id,
        "--as",
        "lena",
        "--arguments",
        '{"text": "edited"}',
        "--comment",
        "ok",
        "--input",
        "[1]",
    )

    assert out == f"Approved approval {approval_id} as lena; run {waiting.run_id}: completed\n"
    output = Step.objects.get(run_id=waiting.run_id).output
    assert output["decided_by"] == str(lead.pk)
    assert (output["arguments"], output["comment"], output["input"]) == (
        {"text": "edited"},
        "ok",
        [1],
    )
    with pytest.raises(CommandError, match="not_resumable: "):
        run_command("scoria_approvals", "reject", approval_id, "--as", "lena")


@pytest.mark.django_db(transaction=True)
def test_approvals_reject_every_pending_one_of_a_run(lead):
    waiting = gated_run()
    out = run_command(
        "scoria_approvals", "reject", "--run", waiting.run_id, "--as", "lena", "--reason", "no"
    )
    assert out.startswith(f"Rejected every pending approval of {waiting.run_id} as lena")
    output = Step.objects.get(run_id=waiting.run_id).output
    assert (output["decision"], output["reason"]) == ("rejected", "no")


@pytest.mark.django_db(transaction=True)
def test_approvals_the_policy_refuses_a_non_member(django_user_model):
    django_user_model.objects.create_user("olaf", password="pw")
    waiting = gated_run(groups=["leads"])
    with pytest.raises(CommandError, match="approval_not_allowed: "):
        run_command("scoria_approvals", "approve", approval_id_of(waiting), "--as", "olaf")
    assert scoria.get_run(waiting.run_id).status == "waiting_for_approval"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("list", "--status", "maybe"), "is not an approval status"),
        (("list", "--run", "latest"), "is not a run id"),
        (("list", "--limit", "0"), "must be greater than 0"),
        (("list", "--mine"), "--mine needs --as"),
        (("list", "--as", "nobody"), "not_found: no user 'nobody'"),
        (("approve", MISSING), "required: --as"),
        (("approve", "--as", "x"), "one of the arguments"),
        (("approve", MISSING, "--run", MISSING, "--as", "x"), "not allowed with"),
        (("approve", "nope", "--as", "x"), "is not an approval id"),
        (("approve", MISSING, "--as", "x", "--arguments", "{x"), "not valid JSON"),
        (("reject", MISSING, "--as", "x", "--comment", "c"), "unrecognized arguments"),
        (("approve", MISSING, "--as", "nobody"), "not_found: no user 'nobody'"),
    ],
)
def test_approvals_bad_arguments(args, message):
    with pytest.raises(CommandError, match=message):
        run_command("scoria_approvals", *args)


@pytest.mark.django_db
def test_approvals_unknown_approval_is_not_found(django_user_model):
    django_user_model.objects.create_user("lena", password="pw")
    with pytest.raises(CommandError, match="not_found: "):
        run_command("scoria_approvals", "approve", MISSING, "--as", "lena")
