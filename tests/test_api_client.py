"""A client generated from the schema (openapi-python-client) works with no work-around.

The client is generated into a temporary directory from the schema the API serves, then
drives a live server through its own functions and models only: start, list with
pagination, detail, resume, cancel, and one error of each status a client can meet. It
authenticates as docs/api.md tells a service to: DRF token authentication.
"""

import importlib
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from rest_framework.authtoken.models import Token

from tests.api_support import TENANT_RESOLVER, client_for, make_user

pytestmark = pytest.mark.django_db(transaction=True)

PACKAGE = "scoria_generated_client"


def generator():
    found = Path(sys.executable).with_name("openapi-python-client")
    found = str(found) if found.exists() else shutil.which("openapi-python-client")
    if found is None:
        pytest.fail("openapi-python-client is not installed (it is in the test extra)")
    return found


@pytest.fixture
def generated(tmp_path, settings):
    """The generated package, imported from ``tmp_path``."""
    settings.SCORIA_TENANT_RESOLVER = TENANT_RESOLVER
    schema = client_for(make_user("acme.schema")).get("/api/scoria/schema/", {"format": "json"})
    assert schema.status_code == 200
    (tmp_path / "schema.json").write_bytes(schema.content)
    (tmp_path / "config.yaml").write_text(f"package_name_override: {PACKAGE}\npost_hooks: []\n")
    done = subprocess.run(
        [
            generator(),
            "generate",
            "--path",
            str(tmp_path / "schema.json"),
            "--config",
            str(tmp_path / "config.yaml"),
            "--meta",
            "none",
            "--output-path",
            str(tmp_path / PACKAGE),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # The generator reports schema problems as warnings; a clean schema has none.
    assert "Warning" not in done.stdout, done.stdout
    sys.path.insert(0, str(tmp_path))
    try:
        yield lambda name: importlib.import_module(f"{PACKAGE}.{name}")
    finally:
        sys.path.remove(str(tmp_path))
        for name in [name for name in sys.modules if name.startswith(PACKAGE)]:
            del sys.modules[name]


def code_of(parsed):
    code = parsed.code
    return getattr(code, "value", code)


def test_start_list_detail_resume_cancel_and_errors(generated, live_server, settings):
    models = generated("models")
    member = make_user("acme.alice", perms=("resume_run", "cancel_run"))
    reader = make_user("acme.bob")

    def client_with(token):
        return generated("client").AuthenticatedClient(
            base_url=live_server.url, token=token, prefix="Token"
        )

    def op(name):
        return generated(f"api.runs.{name}")

    client = client_with(Token.objects.create(user=member).key)

    def start():
        body = models.StartRunInput(
            initial_step=models.InitialStepInput(kind=models.HandlerKind.APPROVAL, role_id="w")
        )
        response = op("runs_create").sync_detailed(client=client, body=body)
        assert response.status_code == 201, response.content
        return response.parsed

    started = [start() for _ in range(3)]
    assert started[0].status == models.RunStatus.WAITING_FOR_APPROVAL
    assert started[0].awaiting_approval is True

    # List, two per page, following the cursor of ``next`` to the end.
    seen, cursor = [], None
    while True:
        more = {"cursor": cursor} if cursor else {}
        page = op("runs_list").sync(client=client, page_size=2, **more)
        seen += [summary.run_id for summary in page.results]
        link = page.next_
        if not link:
            break
        cursor = parse_qs(urlsplit(link).query)["cursor"][0]
    assert seen == [run.run_id for run in reversed(started)]

    detail = op("runs_detail_retrieve").sync(run_id=started[0].run_id, client=client)
    assert detail.summary.run_id == started[0].run_id
    assert detail.steps[0].status == models.StepStatus.WAITING_FOR_APPROVAL

    resumed = op("runs_resume_create").sync(
        run_id=started[0].run_id, client=client, body=models.ResumeInput()
    )
    assert (resumed.run_id, resumed.status) == (started[0].run_id, models.RunStatus.COMPLETED)
    cancelled = op("runs_cancel_create").sync(
        run_id=started[1].run_id, client=client, body=models.CancelInput()
    )
    assert cancelled.status == models.RunStatus.CANCELLED

    # One error of each status, parsed into the schema's Error model.
    blank_root = models.StartRunInput(
        root_role_id=" ",
        initial_step=models.InitialStepInput(kind=models.HandlerKind.ECHO, role_id="w"),
    )
    bad = op("runs_create").sync_detailed(client=client, body=blank_root)
    assert (bad.status_code, code_of(bad.parsed)) == (400, "invalid_root_role_id")

    unknown = op("runs_retrieve").sync_detailed(run_id=uuid.uuid4(), client=client)
    assert (unknown.status_code, code_of(unknown.parsed)) == (404, "not_found")

    again = op("runs_resume_create").sync_detailed(
        run_id=started[1].run_id, client=client, body=models.ResumeInput()
    )
    assert (again.status_code, code_of(again.parsed)) == (409, "not_resumable")

    without_permission = client_with(Token.objects.create(user=reader).key)
    denied = op("runs_cancel_create").sync_detailed(
        run_id=started[2].run_id, client=without_permission, body=models.CancelInput()
    )
    assert (denied.status_code, code_of(denied.parsed)) == (403, "permission_denied")

    wrong_token = client_with("not-a-token")
    refused = op("runs_list").sync_detailed(client=wrong_token)
    assert (refused.status_code, code_of(refused.parsed)) == (403, "authentication_failed")

    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    big = models.CancelInput.from_dict({"reason": "x" * 2000})
    too_large = op("runs_cancel_create").sync_detailed(
        run_id=started[2].run_id, client=client, body=big
    )
    assert (too_large.status_code, code_of(too_large.parsed)) == (413, "request_too_large")


def test_the_generated_client_reads_usage_or_its_absence(generated, live_server, settings):
    """A summary's ``usage`` is the schema's ``Usage`` model, or None for no model request."""
    import scoria_django as scoria
    from tests import async_handlers

    settings.SCORIA_MODEL_PRICES = {"priced-model": {"input": 2.5, "output": 10.0}}
    member = make_user("acme.alice")
    client = generated("client").AuthenticatedClient(
        base_url=live_server.url, token=Token.objects.create(user=member).key, prefix="Token"
    )
    who = {"actor_id": "u1", "tenant_id": "acme", "session_id": "s1"}
    spent, idle = (
        scoria.start_run(
            who, initial_step={"kind": "agent", "role_id": "w"}, handlers={"agent": handler}
        )
        for handler in (async_handlers.sync_usage, "tests.handlers.echo")
    )
    retrieve = generated("api.runs.runs_retrieve").sync
    usage = retrieve(run_id=spent.run_id, client=client).usage
    assert isinstance(usage, generated("models").Usage)
    assert (usage.input_tokens, usage.output_tokens, usage.requests) == (1800, 300, 4)
    assert usage.models["priced-model"].input_tokens == 1500
    assert usage.cost == pytest.approx(0.00675)
    assert usage.unpriced_models == ["free-model"]
    assert retrieve(run_id=idle.run_id, client=client).usage is None
