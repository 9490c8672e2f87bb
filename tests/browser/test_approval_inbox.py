"""An operator decides from the approval inbox: edit the arguments, approve, see the result."""

import json
import re

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "browser-inbox-pw-1"
EDITED = "Thanks! Your invoices export to CSV from Billing > Export (edited by the operator)."


@pytest.fixture
def operator(django_user_model):
    # Created before the browser starts: no ORM call runs beside Playwright's event loop.
    return django_user_model.objects.create_superuser("operator", password=PASSWORD)


def test_edit_arguments_and_approve_from_the_inbox(operator, example_server, browser_page):
    from playwright.sync_api import expect

    page = browser_page
    page.goto(f"{example_server.url}/accounts/login/")
    page.fill("#id_username", "operator")
    page.fill("#id_password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.fill("#prompt-form textarea[name=prompt]", "How do I export my invoices to CSV?")
    page.click("#prompt-form button[type=submit]")
    expect(page.locator("#run-status")).to_have_text("waiting_for_approval")
    run_id = page.locator("#run-id").inner_text()

    # The inbox: pending approvals, each linking to its run's evidence page.
    page.goto(f"{example_server.url}/admin/scoria_django/approval/?pending=yes")
    expect(page.locator("h1")).to_have_text("Approval inbox")
    row = page.locator("#result_list tbody tr").filter(has_text=run_id)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("send_reply")
    row.locator("a.scoria-run-link").click()
    expect(page).to_have_url(re.compile(rf"/admin/scoria_django/run/{run_id}/evidence/$"))
    approval = page.locator("#scoria-approvals article.scoria-approval-pending")
    expect(approval).to_contain_text("Approval Requested")

    # Invalid JSON first: shown again with an error, nothing decided.
    approval.locator("details.scoria-edit summary").click()
    editor = approval.locator("form.scoria-edit-arguments textarea[name=arguments]")
    requested = json.loads(editor.input_value())
    assert "invoices" in requested["draft"]
    editor.fill('{"draft": ')
    approval.locator("form.scoria-edit-arguments button[type=submit]").click()
    expect(page.locator(".scoria-decision-error")).to_contain_text("Not valid JSON")
    expect(page.locator("#scoria-run")).to_contain_text("waiting_for_approval")

    pending = page.locator("#scoria-approvals article.scoria-approval-pending")
    editor = pending.locator("form.scoria-edit-arguments textarea[name=arguments]")
    editor.fill(json.dumps({**requested, "draft": EDITED}))
    pending.locator("form.scoria-edit-arguments input[name=comment]").fill("clearer")
    pending.locator("form.scoria-edit-arguments button[type=submit]").click()

    expect(page.locator("ul.messagelist")).to_contain_text("approved with edited arguments")
    expect(page.locator("#scoria-run")).to_contain_text("completed")
    expect(page.locator("#scoria-approvals .scoria-edited-arguments")).to_contain_text(EDITED)
    expect(page.locator("#scoria-steps")).to_contain_text(EDITED)  # the handler's output

    page.goto(f"{example_server.url}/assistant/runs/{run_id}/")
    expect(page.locator("#run-status")).to_have_text("completed")
    expect(page.locator("#reply")).to_have_text(EDITED)
