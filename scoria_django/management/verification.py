"""The guide's verification checklist, run against the host project's own configuration.

Everything happens inside one transaction that the caller rolls back. Steps are executed
inline in that transaction (the executor's claim -> handler -> record path), whatever task
backend the host configured: an enqueue registered with ``on_commit`` would never fire
inside a transaction that is rolled back.
"""

import textwrap
import uuid
from dataclasses import dataclass
from importlib import import_module

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import checks
from django.db import DatabaseError, connections, router
from django.test import Client, RequestFactory
from django.test.utils import override_settings
from django.urls import NoReverseMatch, reverse

from ..conf import scoria_settings
from ..exceptions import ScoriaError, UnsafeProjectedContext
from ..identity import Identity
from ..redaction import redact_text

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"
LANES = ("adoption", "runtime-to-handoff")
RUN_ID_SESSION_KEY = "last_scoria_run_id"


class CheckFailed(Exception):
    """A check's expectation did not hold; the message says what was seen."""


@dataclass(frozen=True)
class Result:
    status: str
    name: str
    detail: str

    def line(self):
        # Details quote run errors and exception messages: redacted like every surface.
        return f"{self.status}  {self.name}: {redact_text(self.detail)}"


@dataclass(frozen=True)
class Options:
    kind: str = "approval"
    role: str = "executor"
    prompt: str = "scoria_verify: does the adoption path work?"
    root_role: str = "planner"
    delegated_role: str = "critic"
    delegated_kind: str = "review"
    handlers: tuple = ()  # ((kind, dotted path), ...) added to SCORIA_HANDLERS


class Checklist:
    """Runs one lane's checks in order; a check whose prerequisite failed is skipped."""

    def __init__(self, lane, options):
        if lane not in LANES:
            raise ValueError(f"unknown lane {lane!r}")
        self.lane = lane
        self.options = options
        self.handlers = {**scoria_settings.HANDLERS, **dict(options.handlers)}
        self.state = {}
        self.results = []

    # -- running ---------------------------------------------------------------------

    def run(self):
        steps = ADOPTION if self.lane == "adoption" else RUNTIME_TO_HANDOFF
        with override_settings(ALLOWED_HOSTS=[*settings.ALLOWED_HOSTS, "testserver"]):
            try:
                for name, method, needs in steps:
                    self._run_one(name, method, needs)
            finally:
                self._cleanup()
        return self.results

    def _run_one(self, name, method, needs):
        missing = [need for need in needs if need not in self.state]
        if missing:
            self.results.append(Result(SKIP, name, f"needs an earlier check ({missing[0]})"))
            return
        try:
            detail = getattr(self, method)()
        except CheckFailed as exc:
            self.results.append(Result(FAIL, name, str(exc)))
        except ScoriaError as exc:
            self.results.append(Result(FAIL, name, f"{exc.code}: {exc.detail}"))
        else:
            self.results.append(Result(PASS, name, detail))

    def _cleanup(self):
        # Sessions may live outside the database (cache engines): remove what we stored.
        store = self.state.get("session_store")
        if store is not None:
            store.delete()
        client = self.state.get("client")
        if client is not None:
            client.logout()

    # -- helpers ---------------------------------------------------------------------

    def _execute_queued(self, run_id):
        """Run the run's queued steps now, in this transaction, on the executor's path."""
        from ..models import Step
        from ..runtime.executor import CallingThread, claim_step, run_claimed

        for _ in range(20):  # a bound: a handler that keeps queueing steps is not hung on
            step = Step.objects.filter(run_id=run_id, status="queued").order_by("sequence").first()
            if step is None:
                return
            before = step.status
            # On this thread: the handler's own writes (ctx.save_agent_state, usage) go
            # through this transaction's connection.
            run_claimed(claim_step(str(run_id), str(step.pk)), CallingThread())
            step.refresh_from_db()
            if step.status == before:
                return  # no handler claimed it: it stays queued, as in production

    def _operator_get(self, run_id):
        client = self.state["client"]
        url = reverse("scoria:workflow_detail", args=[run_id])
        response = client.get(url, secure=bool(getattr(settings, "SECURE_SSL_REDIRECT", False)))
        if response.status_code != 200:
            raise CheckFailed(f"GET {url} answered {response.status_code}, expected 200")
        return url, response.content.decode(response.charset or "utf-8", "replace")

    # -- shared checks ---------------------------------------------------------------

    def check_database(self):
        """The database is reachable and migrated: every later check writes to it."""
        from django.db.migrations.executor import MigrationExecutor

        from ..models import Run

        alias = router.db_for_write(Run)
        try:
            executor = MigrationExecutor(connections[alias])
            plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        except DatabaseError as exc:
            raise CheckFailed(f"database {alias!r} cannot be read: {exc}") from None
        if plan:
            names = ", ".join(f"{migration.app_label}.{migration.name}" for migration, _ in plan)
            raise CheckFailed(
                f"database {alias!r} is not migrated ({len(plan)} unapplied: "
                f"{textwrap.shorten(names, 120)}): run manage.py migrate"
            )
        self.state["migrated"] = True
        return f"database {alias!r} is migrated"

    def check_configuration(self):
        problems = [
            message
            for message in checks.run_checks(databases=list(connections))
            if message.id and message.id.startswith("scoria.")
        ]
        errors = [message for message in problems if message.is_serious()]
        if errors:
            raise CheckFailed("; ".join(f"{m.id} {m.msg}" for m in errors))
        middleware = "scoria_django.middleware.ScoriaIdentityMiddleware"
        if middleware not in settings.MIDDLEWARE:
            raise CheckFailed(f"{middleware} is not in MIDDLEWARE")
        self.state["configured"] = True
        warnings = ", ".join(m.id for m in problems)
        return "system checks pass" + (f" (warnings: {warnings})" if warnings else "")

    def _check_handler(self, kind):
        from ..runtime.handlers import dotted_path

        path = self.handlers.get(kind)
        if not path:
            raise CheckFailed(
                f"no handler for kind {kind!r}: add it to SCORIA_HANDLERS or pass --handler"
            )
        return dotted_path(path, kind)  # handler_not_found when it does not import

    def check_identity(self):
        users = get_user_model()
        operator = users(**{users.USERNAME_FIELD: f"scoria-verify-{uuid.uuid4().hex[:12]}"})
        operator.is_staff = operator.is_superuser = True
        operator.set_unusable_password()
        try:
            operator.save()
        except Exception as exc:  # noqa: BLE001 - a custom user model may need more fields
            raise CheckFailed(f"could not create a temporary operator user: {exc}") from None
        engine = import_module(settings.SESSION_ENGINE)
        store = engine.SessionStore()
        self.state["session_store"] = store
        request = RequestFactory().get("/")
        request.session, request.user = store, operator
        identity = Identity.from_request(request)  # what the middleware builds
        if not identity.session_id:
            raise CheckFailed("the middleware gave no session_id")
        if identity.actor_id != str(operator.pk):
            raise CheckFailed(f"actor_id is {identity.actor_id!r}, expected {operator.pk!r}")
        client = Client()
        client.force_login(operator)
        self.state.update(operator=operator, identity=identity, client=client)
        return f"actor {identity.actor_id}, session {identity.session_id}"

    # -- adoption lane ---------------------------------------------------------------

    def check_handler(self):
        path = self._check_handler(self.options.kind)
        self.state["handler"] = path
        return f"kind {self.options.kind!r} -> {path}"

    def check_start(self):
        import scoria_django as scoria

        started = scoria.start_run(
            self.state["identity"],
            root_role_id=self.options.role,
            initial_step={"kind": self.options.kind, "role_id": self.options.role},
            runtime={"metadata": {"payload": {"prompt": self.options.prompt}}},
            handlers={self.options.kind: self.state["handler"]},
        )
        self._execute_queued(started.run_id)
        self.state["run_id"] = started.run_id
        detail = scoria.get_run_detail(started.run_id)
        if detail.summary.status == "failed":
            raise CheckFailed(f"run {started.run_id} failed: {detail.error}")
        status = detail.summary.status
        return f"run {started.run_id} started; after its first step it is {status}"

    def check_store(self):
        store = self.state["session_store"]
        store[RUN_ID_SESSION_KEY] = self.state["run_id"]
        store.save()
        engine = import_module(settings.SESSION_ENGINE)
        stored = engine.SessionStore(session_key=store.session_key).get(RUN_ID_SESSION_KEY)
        if stored != self.state["run_id"]:
            raise CheckFailed(f"the session gave back {stored!r}")
        self.state["stored_run_id"] = stored
        return f"{settings.SESSION_ENGINE} keeps run_id under {RUN_ID_SESSION_KEY!r}"

    def check_get_run(self):
        import scoria_django as scoria

        summary = scoria.get_run(self.state["stored_run_id"])
        if summary.run_id != self.state["run_id"]:
            raise CheckFailed(f"get_run returned run {summary.run_id}")
        if summary.session_id != self.state["identity"].session_id:
            raise CheckFailed("the run does not carry the identity's session_id")
        self.state["summary"] = summary
        return f"status {summary.status}, session {summary.session_id}"

    def check_operator_page(self):
        run_id = self.state["run_id"]
        try:
            url, html = self._operator_get(run_id)
        except NoReverseMatch:
            raise CheckFailed(
                "reverse('scoria:workflow_detail') failed: add "
                "path('scoria/', include('scoria_django.urls')) to your urls"
            ) from None
        if run_id not in html:
            raise CheckFailed(f"{url} does not show run {run_id}")
        self.state["operator_page"] = url
        return f"{url} renders run {run_id}"

    def check_resume(self):
        import scoria_django as scoria

        from ..models import Run

        run_id = self.state["run_id"]
        summary = scoria.get_run(run_id)
        if not summary.awaiting_approval:
            raise CheckFailed(
                f"run is {summary.status}, not waiting_for_approval: the handler for kind "
                f"{self.options.kind!r} should return scoria.wait_for_approval(...) "
                "(pass --kind to name the approval step)"
            )
        runs_before = Run.objects.count()
        resumed = scoria.resume_run(run_id, identity=self.state["identity"])
        self._execute_queued(run_id)
        after = scoria.get_run(run_id)
        if resumed.run_id != run_id or Run.objects.count() != runs_before:
            raise CheckFailed("resuming created a new run")
        if after.awaiting_approval:
            raise CheckFailed("the run is still waiting after resume_run")
        return f"same run {run_id} is {after.status} after resume_run"

    def check_same_session(self):
        import scoria_django as scoria

        identity = self.state["identity"]
        next_run = scoria.start_run(identity, root_role_id=self.options.role)
        if next_run.session_id != identity.session_id:
            raise CheckFailed("the new turn did not reuse the session_id")
        if next_run.run_id == self.state["run_id"]:
            raise CheckFailed("the new turn reused the run_id")
        timeline = [s.run_id for s in scoria.list_runs_for_session(identity.session_id)]
        if timeline[:2] != [next_run.run_id, self.state["run_id"]]:
            raise CheckFailed(f"list_runs_for_session gave {timeline}, newest first expected")
        return f"new run {next_run.run_id} in the same session; the session lists 2 runs"

    # -- runtime-to-handoff lane -----------------------------------------------------

    def check_delegated_handler(self):
        path = self._check_handler(self.options.delegated_kind)
        self.state["delegated_handler"] = path
        return f"kind {self.options.delegated_kind!r} -> {path}"

    def check_default_run(self):
        import scoria_django as scoria

        started = scoria.start_run(self.state["identity"], root_role_id=self.options.role)
        self.state["default_run_id"] = started.run_id
        return f"run {started.run_id} ({started.status})"

    def _handoff_kwargs(self):
        return {
            "root_role_id": self.options.root_role,
            "delegated_kind": self.options.delegated_kind,
            "handoff_input": {"brief": "Review the draft answer for policy and accuracy"},
            "handlers": {self.options.delegated_kind: self.state["delegated_handler"]},
        }

    def check_handoff(self):
        import scoria_django as scoria

        identity = self.state["identity"]
        started = scoria.start_handoff_run(
            identity,
            self.options.delegated_role,
            projected_context={
                "task": "policy-and-accuracy review",
                "draft_answer": "Our refund policy applies to every order.",
            },
            **self._handoff_kwargs(),
        )
        if started.run_id == self.state["default_run_id"]:
            raise CheckFailed("the handoff reused the default run's run_id")
        if started.session_id != identity.session_id:
            raise CheckFailed("the handoff run is not in the identity's session")
        self._execute_queued(started.run_id)
        self.state["handoff_run_id"] = started.run_id
        return f"handoff run {started.run_id} is {scoria.get_run(started.run_id).status}"

    def check_unsafe_context(self):
        import scoria_django as scoria

        from ..models import Run

        before = Run.objects.count()
        try:
            scoria.start_handoff_run(
                self.state["identity"],
                self.options.delegated_role,
                projected_context={"task": "review", "chat_history": ["the whole transcript"]},
                **self._handoff_kwargs(),
            )
        except UnsafeProjectedContext:
            pass
        else:
            raise CheckFailed("a context carrying chat_history was accepted")
        if Run.objects.count() != before:
            raise CheckFailed("the rejected handoff wrote a run")
        return "a transcript in the projected context is rejected and nothing is written"

    def check_delegated_evidence(self):
        import scoria_django as scoria

        detail = scoria.get_run_detail(self.state["handoff_run_id"])
        items = detail.delegated_handoffs
        if len(items) != 1:
            raise CheckFailed(f"expected 1 delegated handoff, got {len(items)}")
        item = items[0]
        expected = (self.options.root_role, self.options.delegated_role)
        if (item["parent_role_id"], item["delegated_role_id"]) != expected:
            raise CheckFailed(
                f"handoff reads {item['parent_role_id']} to {item['delegated_role_id']}"
            )
        if item["child_status"] == "failed":
            child = next(s for s in detail.steps if s["id"] == item["child_step_id"])
            raise CheckFailed(f"the delegated child step failed: {child['error']}")
        self.state["delegated"] = item
        return (
            f"{item['parent_role_id']} to {item['delegated_role_id']}, kind "
            f"{item['delegated_kind']}, child step {item['child_status']}, context keys "
            f"{sorted(item['projected_context'])}"
        )

    def check_delegated_page(self):
        run_id = self.state["handoff_run_id"]
        try:
            url, html = self._operator_get(run_id)
        except NoReverseMatch:
            raise CheckFailed(
                "reverse('scoria:workflow_detail') failed: add "
                "path('scoria/', include('scoria_django.urls')) to your urls"
            ) from None
        if 'id="delegated-evidence"' not in html:
            raise CheckFailed(f"{url} has no Delegated Evidence section")
        if self.options.delegated_role not in html:
            raise CheckFailed(f"{url} does not name the delegated role")
        return f"{url} shows the Delegated Evidence section"


# (check name, method, state keys it needs) in the guide's order.
ADOPTION = (
    ("configuration", "check_configuration", ()),
    ("database", "check_database", ()),
    ("approval handler", "check_handler", ("configured",)),
    ("identity", "check_identity", ("configured", "migrated")),
    ("start_run", "check_start", ("identity", "handler")),
    ("store run_id", "check_store", ("run_id",)),
    ("get_run", "check_get_run", ("stored_run_id",)),
    ("operator page", "check_operator_page", ("run_id",)),
    ("resume_run", "check_resume", ("run_id",)),
    ("same session, new run", "check_same_session", ("run_id",)),
)
RUNTIME_TO_HANDOFF = (
    ("configuration", "check_configuration", ()),
    ("database", "check_database", ()),
    ("delegated handler", "check_delegated_handler", ("configured",)),
    ("identity", "check_identity", ("configured", "migrated")),
    ("default run", "check_default_run", ("identity",)),
    ("bounded handoff", "check_handoff", ("default_run_id", "delegated_handler")),
    ("unsafe context rejected", "check_unsafe_context", ("identity", "delegated_handler")),
    ("delegated evidence", "check_delegated_evidence", ("handoff_run_id",)),
    ("operator page evidence", "check_delegated_page", ("handoff_run_id",)),
)
