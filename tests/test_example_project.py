"""The example host project: its handlers, its views (the guide's flow) and its own settings."""

import io
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.core import checks
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from pydantic_ai import DeferredToolResults, ToolApproved
from pydantic_ai.messages import ModelRequest, ModelResponse, ToolCallPart, UserPromptPart

import scoria_django as scoria
from example_project.assistant import drafting, handlers
from example_project.assistant.agent import OFFLINE_MODEL, ReplyDeps, assistant_agent
from example_project.assistant.models import SentReply
from tests.example_host import example_overrides

ROOT = Path(__file__).resolve().parent.parent
APPROVAL_STEP = {"kind": "approval", "role_id": "executor"}
REPLY_HANDLER = "example_project.assistant.handlers.reply"


@pytest.fixture
def example_site():
    with example_overrides():
        yield


@pytest.fixture
def operator(django_user_model):
    return django_user_model.objects.create_superuser("op", password="pw-op-123")


@pytest.fixture
def member(django_user_model):
    return django_user_model.objects.create_user("member", password="pw-member-123")


def status_on(html):
    match = re.search(r'id="run-status"[^>]*data-status="(\w+)"', html)
    return match.group(1) if match else None


def approval_on(html):
    """The approval the page's approve form names."""
    return re.search(r'name="approval_id" value="([0-9a-f-]+)"', html).group(1)


def start_turn(client, prompt):
    response = client.post(reverse("assistant:start"), {"prompt": prompt})
    assert response.status_code == 302, response.content[:500]
    run_id = response["Location"].rstrip("/").split("/")[-1]
    return run_id, client.get(response["Location"]).content.decode()


# -- deterministic text work -------------------------------------------------------------


def test_draft_is_deterministic_and_names_the_topic():
    prompt = "Printer   keeps jamming. The printer jams on duplex pages! Help."
    first, second = drafting.compose_draft(prompt), drafting.compose_draft(prompt)
    assert first == second
    assert first["keywords"][0] == "printer"
    assert first["word_count"] == 10
    assert first["text"].endswith("In short: Printer keeps jamming.")


def test_long_first_sentence_is_cut():
    draft = drafting.compose_draft("word " * 100)
    assert len(draft["text"].split("In short: ")[1]) == drafting.SUMMARY_LIMIT
    assert draft["text"].endswith("...")


def test_review_policy_and_findings():
    assert drafting.needs_bounded_review("Our refund POLICY says")
    assert not drafting.needs_bounded_review("Our refund rules say")
    assert drafting.review_findings("We always refund, see the policy.") == [
        "Cite the policy section the answer relies on.",
        "Avoid absolute promises (always).",
    ]
    assert drafting.review_findings("See policy section 4.") == []


# -- the assistant agent on the real runtime ----------------------------------------------


def start_assistant(prompt, identity=None, **options):
    return scoria.start_run(
        identity or scoria.identity(actor_id="7", session_id="conv-1"),
        initial_step=APPROVAL_STEP,
        runtime={"metadata": {"payload": {"prompt": prompt}}},
        handlers={"approval": REPLY_HANDLER, "review": handlers.review_draft},
        **options,
    )


def agent_step(run_id):
    return scoria.get_run_detail(run_id).steps[0]


def sent_texts(run_id):
    return list(SentReply.objects.filter(run_id=run_id).values_list("text", flat=True))


@pytest.mark.django_db(transaction=True)
def test_the_agent_drafts_and_waits_for_one_send_reply_approval():
    prompt = "Where is my parcel?"
    started = start_assistant(prompt)

    assert started.status == "waiting_for_approval"
    (approval,) = scoria.list_approvals(run_id=started.run_id)
    assert approval.tool_name == "send_reply"
    # The offline model drafts with compose_draft; the approval carries the tool's arguments.
    assert approval.arguments == {"draft": drafting.compose_draft(prompt)["text"]}
    assert approval.call_id  # the model's tool call id: the decision goes back to that call
    assert sent_texts(started.run_id) == []  # nothing is sent before a person approves
    step = agent_step(started.run_id)
    assert step["agent_state"]  # the message history the step continues from
    assert started.usage["requests"] == 1
    assert started.usage["model"] == "offline-drafter"
    assert started.usage["input_tokens"] > 0 and started.usage["output_tokens"] > 0


@pytest.mark.django_db(transaction=True)
def test_approve_sends_the_draft_once_and_the_agent_says_so():
    started = start_assistant("Where is my parcel?")
    draft = scoria.list_approvals(run_id=started.run_id)[0].arguments["draft"]

    resumed = scoria.approve(
        started.run_id, identity={"actor_id": "approver-1"}, input={"note": "fine"}
    )

    assert resumed.run_id == started.run_id
    assert resumed.status == "completed"
    assert sent_texts(started.run_id) == [draft]  # the tool ran once, with the approved text
    assert SentReply.objects.get().approved_by == "approver-1"
    output = agent_step(started.run_id)["output"]
    assert output["reply"] == draft
    assert output["sent"] is True
    assert output["approved_by"] == "approver-1"
    assert output["approval_note"] == "fine"
    assert output["answer"] == f"I sent your reply ({len(draft)} characters)."
    assert resumed.usage["requests"] == 2  # the drafting turn and the answering turn


@pytest.mark.django_db(transaction=True)
def test_an_edited_draft_is_what_the_tool_sends():
    started = start_assistant("Where is my parcel?")
    edited = "Your parcel left our warehouse this morning."

    done = scoria.approve(started.run_id, arguments={"draft": edited})

    assert done.status == "completed"
    assert sent_texts(started.run_id) == [edited]
    output = agent_step(started.run_id)["output"]
    assert (output["reply"], output["answer"]) == (
        edited,
        f"I sent your reply ({len(edited)} characters).",
    )


@pytest.mark.django_db(transaction=True)
def test_a_rejected_reply_is_not_sent_and_the_model_sees_the_denial():
    started = start_assistant("Where is my parcel?")

    done = scoria.reject(started.run_id, identity={"actor_id": "approver-1"}, reason="wrong tone")

    assert done.status == "completed"  # a rejection does not fail the run: the agent answers
    assert sent_texts(started.run_id) == []
    output = agent_step(started.run_id)["output"]
    assert (output["sent"], output["reply"], output["decision"]) == (False, None, "rejected")
    assert output["decided_by"] == "approver-1"
    assert output["answer"].startswith("I did not send the reply: ")
    assert "wrong tone" in output["answer"]  # the denial the model was given


@pytest.mark.django_db(transaction=True)
def test_sending_is_idempotent_per_step_and_tool_call():
    """A step that runs again after its tool ran (a crash before the history was saved)
    finds the reply it sent: the same key, one row, the first text."""
    deps = ReplyDeps(run_id=str(uuid.uuid4()), step_key="run:step")
    call = {"tool_name": "send_reply", "tool_call_id": "call-1"}
    history = [
        ModelRequest(parts=[UserPromptPart("Where is my parcel?")]),
        ModelResponse(parts=[ToolCallPart(args={"draft": "first"}, **call)]),
    ]
    answers = []
    for draft in ("first", "second draft"):
        results = DeferredToolResults(
            approvals={"call-1": ToolApproved(override_args={"draft": draft})}
        )
        # async_to_sync, as on a step's thread: the tool's ORM call comes back to this
        # thread's connection (run_sync would leave one open on a thread of asgiref's).
        result = async_to_sync(assistant_agent.run)(
            message_history=history, deferred_tool_results=results, deps=deps, model=OFFLINE_MODEL
        )
        answers.append(result.output)
    assert list(SentReply.objects.values_list("key", "text")) == [("run:step:call-1", "first")]
    # The second call ran and reported the reply already sent, not the one it was given.
    assert answers == ["I sent your reply (5 characters)."] * 2


@pytest.mark.django_db(transaction=True)
def test_the_model_comes_from_settings(settings):
    """ASSISTANT_MODEL (env SCORIA_DEMO_MODEL) picks the model by name, no code change:
    here Pydantic AI's own "test" model, which calls every tool with made-up arguments."""
    settings.ASSISTANT_MODEL = "test"
    started = start_assistant("Where is my parcel?")

    assert started.status == "waiting_for_approval"
    (approval,) = scoria.list_approvals(run_id=started.run_id)
    assert approval.tool_name == "send_reply"
    assert approval.arguments["draft"] != drafting.compose_draft("Where is my parcel?")["text"]
    assert started.usage["model"] == "test"
    done = scoria.approve(started.run_id)
    assert done.status == "completed"
    assert sent_texts(started.run_id) == [approval.arguments["draft"]]


LONG_PROMPT = (
    "Please explain in detail how the quarterly invoice export works for customers with "
    "several billing accounts and different currencies across regions, teams and subsidiaries."
)


@pytest.mark.django_db(transaction=True)
def test_short_replies_are_for_anyone_long_ones_for_leads_and_all_expire(settings):
    settings.ASSISTANT_APPROVAL_EXPIRES_SECONDS = 90
    settings.ASSISTANT_LEAD_REVIEW_CHARS = 200
    assert len(drafting.compose_draft(LONG_PROMPT)["text"]) > 200
    runs = {
        name: start_assistant(prompt, scoria.identity(actor_id="7"))
        for name, prompt in (("short", "Where is my parcel?"), ("long", LONG_PROMPT))
    }
    short, long = (scoria.list_approvals(run_id=runs[name].run_id)[0] for name in ("short", "long"))
    assert (short.groups, long.groups) == ([], ["leads"])
    for approval in (short, long):
        assert approval.on_expiry == "reject"
        assert (approval.expires_at - approval.requested_at).total_seconds() == 90


@pytest.mark.django_db(transaction=True)
def test_a_long_reply_needs_a_lead_and_edits_reach_the_reply(django_user_model):
    from django.contrib.auth.models import Group

    started = start_assistant(LONG_PROMPT, scoria.identity(actor_id="7"))
    member = django_user_model.objects.create_user("member", password="pw")
    lead = django_user_model.objects.create_user("lead", password="pw")
    lead.groups.add(Group.objects.create(name="leads"))
    with pytest.raises(scoria.ScoriaPermissionDenied):
        scoria.approve(started.run_id, identity=scoria.Identity.from_user(member))
    assert sent_texts(started.run_id) == []
    done = scoria.approve(
        started.run_id,
        identity=scoria.Identity.from_user(lead),
        arguments={"draft": "A shorter, edited reply."},
    )
    assert done.status == "completed"
    assert sent_texts(started.run_id) == ["A shorter, edited reply."]
    output = agent_step(started.run_id)["output"]
    assert output["reply"] == "A shorter, edited reply."
    assert output["approved_by"] == str(lead.pk)


@pytest.mark.django_db(transaction=True)
def test_an_unanswered_approval_expires_and_the_reply_is_not_sent(client, operator, example_site):
    from scoria_django.models import Approval

    client.force_login(operator)
    run_id, _ = start_turn(client, "Draft a reply to the supplier.")
    # Test setup: the request is past its expiry (the runtime stamps the current time).
    Approval.objects.filter(run_id=run_id).update(expires_at=timezone.now())
    call_command("scoria_recover", stdout=io.StringIO())

    assert scoria.get_run(run_id).status == "completed"
    output = agent_step(run_id)["output"]
    assert (output["sent"], output["decision"], output["reply"]) == (False, "expired", None)
    assert sent_texts(run_id) == []
    html = client.get(reverse("assistant:run", args=[run_id])).content.decode()
    assert 'id="not-sent"' in html and ">expired<" in html
    assert "I did not send the reply" in html  # the agent's own answer


@pytest.mark.django_db(transaction=True)
def test_a_sent_reply_about_a_policy_is_handed_to_the_critic():
    started = start_assistant("Does the refund policy always apply to sale items?")
    draft = scoria.list_approvals(run_id=started.run_id)[0].arguments["draft"]
    assert drafting.needs_bounded_review(draft)

    done = scoria.approve(started.run_id)

    assert done.status == "completed"
    assert sent_texts(started.run_id) == [draft]
    detail = scoria.get_run_detail(started.run_id)
    (handoff,) = detail.delegated_handoffs
    assert (handoff["delegated_role_id"], handoff["delegated_kind"]) == ("critic", "review")
    # The critic gets the reply and its task: not the agent's message history.
    assert handoff["projected_context"] == {
        "task": "policy-and-accuracy review",
        "draft_answer": draft,
    }
    review = detail.steps[1]["output"]
    assert review["verdict"] == "revise"
    assert review["findings"][0] == "Cite the policy section the answer relies on."


@pytest.mark.django_db(transaction=True)
def test_review_draft_reads_only_its_projected_context():
    started = scoria.start_handoff_run(
        scoria.identity(session_id="conv-2"),
        "critic",
        root_role_id="planner",
        delegated_kind="review",
        handoff_input={"brief": "check it"},
        projected_context={"task": "review", "draft_answer": "We never lose parcels."},
        handlers={"review": handlers.review_draft},
    )
    assert started.status == "completed"
    child = scoria.get_run_detail(started.run_id).steps[1]
    assert child["output"]["verdict"] == "revise"
    assert child["output"]["findings"] == ["Avoid absolute promises (never)."]
    assert child["output"]["brief"] == "check it"


# -- the guide's flow through the example's views ----------------------------------------


@pytest.mark.django_db(transaction=True)
def test_anonymous_users_are_sent_to_login(client, example_site):
    response = client.get(reverse("assistant:home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.django_db(transaction=True)
def test_prompt_approve_and_next_turn(client, operator, example_site):
    client.force_login(operator)
    prompt = "How do I export my invoices to CSV?"
    run_id, html = start_turn(client, prompt)
    assert status_on(html) == "waiting_for_approval"
    assert client.session["last_scoria_run_id"] == run_id
    assert 'id="approval-request"' in html
    draft = drafting.compose_draft(prompt)["text"]
    assert f'<blockquote id="draft">{draft}</blockquote>' in html  # the agent's draft
    assert 'id="reply-sent"' not in html
    assert re.search(r'id="usage-requests">1<', html)  # the drafting request's usage
    assert reverse("scoria:workflow_detail", args=[run_id]) in html
    session_id = scoria.get_run(run_id).session_id
    assert session_id

    response = client.post(
        reverse("assistant:approve", args=[run_id]),
        {"approval_id": approval_on(html), "note": "ship it"},
    )
    assert response.status_code == 302
    html = client.get(response["Location"]).content.decode()
    assert status_on(html) == "completed"
    assert f'<blockquote class="reply" id="reply">{draft}</blockquote>' in html
    assert "ship it" in html
    assert f"I sent your reply ({len(draft)} characters)." in html  # the model's final answer
    assert re.search(r'id="usage-requests">2<', html)
    assert 'id="usage-model">offline-drafter<' in html
    assert scoria.get_run(run_id).status == "completed"

    next_id, html = start_turn(client, "And to PDF?")
    assert next_id != run_id
    assert scoria.get_run(next_id).session_id == session_id
    assert "2 runs in this session" in html
    timeline = re.findall(r'class="timeline-run" data-run-id="([0-9a-f-]+)"', html)
    assert timeline == [next_id, run_id]


@pytest.mark.django_db(transaction=True)
def test_the_page_sends_an_edited_draft_or_rejects_it(client, operator, example_site):
    client.force_login(operator)
    run_id, html = start_turn(client, "Where is my parcel?")
    approval_id = approval_on(html)
    edited = "Your parcel is on its way."
    response = client.post(
        reverse("assistant:approve", args=[run_id]), {"approval_id": approval_id, "draft": edited}
    )
    html = client.get(response["Location"]).content.decode()
    assert status_on(html) == "completed"
    assert sent_texts(run_id) == [edited]
    assert f'<blockquote class="edited-draft">{edited}</blockquote>' in html
    assert f'<blockquote class="reply" id="reply">{edited}</blockquote>' in html

    rejected_id, _ = start_turn(client, "Where is my other parcel?")
    response = client.post(reverse("assistant:reject", args=[rejected_id]), {"reason": "too curt"})
    html = client.get(response["Location"]).content.decode()
    assert status_on(html) == "completed"
    assert sent_texts(rejected_id) == []
    assert 'id="not-sent"' in html and ">rejected<" in html
    assert "I did not send the reply" in html and "too curt" in html


@pytest.mark.django_db(transaction=True)
def test_policy_reply_is_handed_to_a_critic_in_the_same_run(client, operator, example_site):
    client.force_login(operator)
    run_id, html = start_turn(client, "Does the refund policy always apply to sale items?")
    assert status_on(html) == "waiting_for_approval"
    assert 'id="delegated-evidence"' not in html  # nothing is reviewed before it is sent

    response = client.post(
        reverse("assistant:approve", args=[run_id]), {"approval_id": approval_on(html)}
    )
    html = client.get(response["Location"]).content.decode()
    assert status_on(html) == "completed"
    assert 'id="reply"' in html
    # The step ended in the handoff; the answer comes from the agent's saved history.
    assert "I sent your reply (" in html
    section = html[html.index('id="delegated-evidence"') :]
    assert "executor to critic" in section
    assert "<code>draft_answer</code>, <code>task</code>" in section
    assert "Cite the policy section the answer relies on." in section
    assert "1 run in this session" in html


@pytest.mark.django_db(transaction=True)
def test_an_invalid_approve_form_decides_nothing(client, operator, example_site):
    client.force_login(operator)
    run_id, html = start_turn(client, "Where is my parcel?")
    approval_id = approval_on(html)

    response = client.post(
        reverse("assistant:approve", args=[run_id]),
        {"approval_id": approval_id, "draft": "x" * 4001},  # over the form's 4000
        follow=True,
    )

    page = response.content.decode()
    assert status_on(page) == "waiting_for_approval"
    assert re.search(r'<li class="error">Not approved\. draft: [^<]*4000', page)
    assert scoria.get_approval(approval_id).status == "pending"
    assert sent_texts(run_id) == []
    # Without the approval the page named, nothing is decided either.
    response = client.post(
        reverse("assistant:approve", args=[run_id]), {"note": "ship it"}, follow=True
    )
    assert '<li class="error">Not approved. approval_id: the page did not name' in (
        response.content.decode()
    )
    assert scoria.get_approval(approval_id).status == "pending"
    assert scoria.get_run(run_id).status == "waiting_for_approval"


@pytest.mark.django_db(transaction=True)
def test_approving_needs_the_resume_permission(client, member, example_site):
    client.force_login(member)
    run_id, html = start_turn(client, "Please summarise my open tickets.")
    assert status_on(html) == "waiting_for_approval"
    assert 'id="approve-form"' not in html
    assert 'id="operator-link"' not in html  # the operator page is for staff
    response = client.post(reverse("assistant:approve", args=[run_id]))
    assert response.status_code == 403
    assert scoria.get_run(run_id).status == "waiting_for_approval"


@pytest.mark.django_db(transaction=True)
def test_runs_of_other_users_are_not_found(client, member, django_user_model, example_site):
    other = scoria.start_run(scoria.identity(actor_id="someone-else"), root_role_id="executor")
    client.force_login(member)
    assert client.get(reverse("assistant:run", args=[other.run_id])).status_code == 404
    missing = "00000000-0000-0000-0000-000000000000"
    assert client.get(reverse("assistant:run", args=[missing])).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_staff_see_and_approve_only_their_own_tenants_runs(
    client, django_user_model, example_site, settings
):
    settings.SCORIA_TENANT_RESOLVER = "tests.operator_tenants.tenant_from_username"
    staff = django_user_model.objects.create_superuser("ops@acme", password="pw-ops-123")
    start = {
        "root_role_id": "executor",
        "initial_step": APPROVAL_STEP,
        "handlers": {"approval": REPLY_HANDLER},
        "runtime": {"metadata": {"payload": {"prompt": "Refund order 42"}}},
    }
    foreign = scoria.start_run(scoria.identity(actor_id="g-1", tenant_id="globex"), **start)
    own = scoria.start_run(scoria.identity(actor_id="a-1", tenant_id="acme"), **start)
    assert foreign.status == own.status == "waiting_for_approval"
    client.force_login(staff)

    assert client.get(reverse("assistant:run", args=[foreign.run_id])).status_code == 404
    assert client.post(reverse("assistant:approve", args=[foreign.run_id])).status_code == 404
    assert client.post(reverse("assistant:cancel", args=[foreign.run_id])).status_code == 404
    assert scoria.get_run(foreign.run_id).status == "waiting_for_approval"

    page = client.get(reverse("assistant:run", args=[own.run_id]))
    assert page.status_code == 200
    client.post(
        reverse("assistant:approve", args=[own.run_id]),
        {"approval_id": approval_on(page.content.decode())},
    )
    assert scoria.get_run(own.run_id).status == "completed"


@pytest.mark.django_db(transaction=True)
def test_cancel_and_errors_shown_with_their_code(client, operator, example_site):
    client.force_login(operator)
    run_id, html = start_turn(client, "Draft a reply to the supplier.")
    approval_id = approval_on(html)
    response = client.post(reverse("assistant:cancel", args=[run_id]), {"reason": "not needed"})
    html = client.get(response["Location"]).content.decode()
    assert status_on(html) == "cancelled"
    assert scoria.get_run_detail(run_id).cancel_reason == "not needed"

    response = client.post(
        reverse("assistant:approve", args=[run_id]), {"approval_id": approval_id}, follow=True
    )
    assert "not_resumable:" in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_blank_prompt_is_a_form_error(client, operator, example_site):
    client.force_login(operator)
    response = client.post(reverse("assistant:start"), {"prompt": "  "})
    assert response.status_code == 400
    assert scoria.list_runs_for_session(client.session.get("scoria_session_id") or "x") == []


# -- the example's own settings ----------------------------------------------------------


@pytest.mark.django_db(databases="__all__")  # the model checks query every database
def test_example_settings_follow_the_installation_guide():
    from example_project import settings as example

    assert example.DATABASES["default"]["OPTIONS"] == {"transaction_mode": "IMMEDIATE"}
    middleware = example.MIDDLEWARE
    scoria_position = middleware.index("scoria_django.middleware.ScoriaIdentityMiddleware")
    assert middleware.index("django.contrib.sessions.middleware.SessionMiddleware") < (
        scoria_position
    )
    assert middleware.index("django.contrib.auth.middleware.AuthenticationMiddleware") < (
        scoria_position
    )
    with example_overrides():
        errors = [m for m in checks.run_checks() if m.id and m.id.startswith("scoria.")]
        assert errors == []
        run_id = "6f1c2a9e-0000-4000-8000-000000000001"
        assert reverse("scoria:workflow_detail", args=[run_id]) == f"/scoria/workflows/{run_id}/"
        assert reverse("assistant:run", args=[run_id]) == f"/assistant/runs/{run_id}/"


def _manage(*args, db):
    env = {**os.environ, "SCORIA_DEMO_DB": str(db), "PYTHONPATH": str(ROOT)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run(
        [sys.executable, str(ROOT / "example_project" / "manage.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


def test_example_project_migrates_and_passes_both_verification_lanes(tmp_path):
    """What ``make demo`` does before serving, on the example's own settings and SQLite."""
    db = tmp_path / "demo.sqlite3"
    result = _manage("migrate", "--noinput", "-v", "0", db=db)
    assert result.returncode == 0, result.stderr
    for lane, count in (("adoption", 10), ("runtime-to-handoff", 9)):
        result = _manage("scoria_verify", lane, db=db)
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.count("PASS ") == count
        assert "FAIL" not in result.stdout
    with sqlite3.connect(db) as connection:
        runs = connection.execute("SELECT COUNT(*) FROM scoria_django_run").fetchone()[0]
    assert runs == 0  # the verifier rolled back everything it wrote


def test_verify_on_an_unmigrated_database_prints_a_fail_line(tmp_path):
    result = _manage("scoria_verify", "adoption", db=tmp_path / "fresh.sqlite3")

    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert "FAIL  database: database 'default' is not migrated (" in result.stdout
    assert "run manage.py migrate" in result.stdout
    assert "SKIP  identity: needs an earlier check (migrated)" in result.stdout


@pytest.mark.parametrize(
    ("addr", "url"),
    [
        ("127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("8001", "http://127.0.0.1:8001"),
        ("0.0.0.0:9000", "http://127.0.0.1:9000"),
        ("[::]:8002", "http://127.0.0.1:8002"),
        ("localhost:8003", "http://localhost:8003"),
        ("[::1]:8004", "http://[::1]:8004"),
    ],
)
def test_make_demo_prints_the_address_it_serves(addr, url):
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [make, "-s", "--no-print-directory", "demo-url", f"DEMO_ADDR={addr}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.stdout.strip() == url, result.stderr


def test_make_demo_installs_the_package_its_server_and_pydantic_ai_only():
    makefile = (ROOT / "Makefile").read_text()
    demo = re.search(r"^demo: (.*)$", makefile, re.M).group(1).split()
    assert demo == ["$(DEMO_STAMP)"]
    recipe = re.search(r"^\$\(DEMO_STAMP\):.*\n((?:\t.*\n)+)", makefile, re.M).group(1)
    assert 'install --quiet -e ".[demo,pydantic-ai]"\n' in recipe
    assert "[test" not in recipe
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^demo = \["uvicorn[^"]*"\]$', pyproject, re.M)
    # The slim package only: a provider's SDK is the user's choice (README, docs).
    assert re.search(r'^pydantic-ai = \["pydantic-ai-slim[^"\[]*"\]$', pyproject, re.M)


@pytest.mark.django_db
def test_demo_operator_password_is_printed_once(example_site):
    out = io.StringIO()
    call_command("demo_operator", stdout=out)
    password = re.search(r"password: (\S+)", out.getvalue()).group(1)
    user = get_user_model().objects.get(username="operator")
    assert user.is_superuser and user.check_password(password)
    assert list(user.groups.values_list("name", flat=True)) == ["leads"]

    again = io.StringIO()
    call_command("demo_operator", stdout=again)
    assert "already exists" in again.getvalue()
    assert password not in again.getvalue()

    reset = io.StringIO()
    call_command("demo_operator", "--reset-password", stdout=reset)
    new_password = re.search(r"password: (\S+)", reset.getvalue()).group(1)
    user.refresh_from_db()
    assert new_password != password and user.check_password(new_password)


@pytest.mark.django_db(transaction=True)
def test_the_api_and_admin_are_mounted(client, operator, example_site):
    client.force_login(operator)
    run_id, _ = start_turn(client, "Where is the API?")
    session_id = scoria.get_run(run_id).session_id
    response = client.get(f"/api/scoria/sessions/{session_id}/runs/")
    assert response.status_code == 200, response.content[:300]
    assert run_id in response.content.decode()
    assert client.get(f"/api/scoria/runs/{run_id}/").json()["status"] == "waiting_for_approval"
    assert client.get("/admin/").status_code == 200
