"""The operator page follows a run live: served by uvicorn (ASGI), the page moves from
waiting_for_approval to completed when the approval comes through the API in another
request, without a reload."""

import base64
import json
import urllib.request

import pytest

import scoria_django as scoria

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "browser-live-pw-1"


@pytest.fixture
def operator(django_user_model):
    # Created before the browser starts: no ORM call runs beside Playwright's event loop.
    return django_user_model.objects.create_superuser("operator", password=PASSWORD)


@pytest.fixture
def waiting_run(operator):
    run = scoria.start_run(
        scoria.identity(actor_id=operator.pk, session_id="s-live"),
        initial_step={"kind": "approval", "role_id": "writer"},
    )
    assert run.status == "waiting_for_approval"
    return run


def approve_through_the_api(server, run_id):
    """Another client, another request: the API's resume, with Basic authentication."""
    token = base64.b64encode(f"operator:{PASSWORD}".encode()).decode()
    request = urllib.request.Request(  # noqa: S310 - the test's own http://127.0.0.1 server
        f"{server.url}/api/scoria/runs/{run_id}/resume/",
        data=json.dumps({"input": {"note": "go"}}).encode(),
        headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310
        return json.loads(response.read())


def test_the_operator_page_shows_the_run_complete_without_a_reload(
    operator, waiting_run, asgi_server, browser_page, tmp_path
):
    from playwright.sync_api import expect

    page = browser_page
    run_id = waiting_run.run_id
    page.goto(f"{asgi_server.url}/admin/login/?next=/scoria/workflows/{run_id}/")
    page.fill("#id_username", "operator")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    status = page.locator("#scoria-run-live .scoria-status")
    expect(status).to_have_text("waiting_for_approval")
    expect(page.locator("html")).to_have_attribute("data-scoria-stream", "open")
    page.evaluate("window.notReloaded = true")  # a reload would forget it
    page.screenshot(path=str(tmp_path / "1-waiting.png"), full_page=True)

    summary = approve_through_the_api(asgi_server, run_id)
    assert summary["run_id"] == run_id

    expect(status).to_have_text("completed")
    expect(page.locator("#scoria-events")).to_contain_text("run_completed")
    expect(page.locator("#scoria-steps")).to_contain_text("completed")
    expect(page.locator("html")).to_have_attribute("data-scoria-stream", "ended")
    assert page.evaluate("window.notReloaded") is True
    page.screenshot(path=str(tmp_path / "2-completed.png"), full_page=True)
