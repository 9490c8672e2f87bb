"""The guide's flow as a person clicks it: the example project in headless Chromium, its
assistant a Pydantic AI agent on the offline model (drafts, asks to send, sends)."""

import re

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "browser-demo-pw-1"


@pytest.fixture
def demo_operator(django_user_model):
    # Created before the browser starts: no ORM call runs beside Playwright's event loop.
    return django_user_model.objects.create_superuser("operator", password=PASSWORD)


def test_login_prompt_approve_and_second_turn(
    demo_operator, example_server, browser_page, tmp_path
):
    from playwright.sync_api import expect

    page = browser_page

    def shot(name):
        page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)

    page.goto(f"{example_server.url}/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    page.fill("#id_username", "operator")
    page.fill("#id_password", PASSWORD)
    page.click("#login-form button[type=submit]")

    page.fill("#prompt-form textarea[name=prompt]", "How do I export my invoices to CSV?")
    page.click("#prompt-form button[type=submit]")
    expect(page.locator("#run-status")).to_have_text("waiting_for_approval")
    # The agent drafted and called send_reply: the call waits for a person.
    expect(page.locator("#draft")).to_contain_text("invoices")
    expect(page.locator("#approval-request")).to_contain_text("send_reply")
    expect(page.locator("#agent-drafts .approval-status")).to_have_text("pending")
    expect(page.locator("#reply-sent")).to_have_count(0)
    expect(page.locator("#usage-requests")).to_have_text("1")
    draft = page.locator("#draft").inner_text()
    run_id = page.locator("#run-id").inner_text()
    run_url = page.url
    assert run_url.endswith(f"/assistant/runs/{run_id}/")
    shot("1-waiting-for-approval")

    page.click("#operator-link")
    expect(page).to_have_url(re.compile(rf"/scoria/workflows/{run_id}/$"))
    expect(page.locator("#scoria-run")).to_contain_text(run_id)
    expect(page.locator("#scoria-run")).to_contain_text("waiting_for_approval")
    shot("2-operator-evidence")

    page.goto(run_url)
    expect(page.locator("#approve-form textarea[name=draft]")).to_have_value(draft)
    edited = f"{draft} Billing > Export has the button."
    page.fill("#approve-form textarea[name=draft]", edited)
    page.fill("#approve-form input[name=note]", "looks right")
    page.click("#approve-form button[type=submit]")
    expect(page.locator("#run-status")).to_have_text("completed")
    # The tool sent the reply as the approver edited it; the model then said what happened.
    expect(page.locator("#reply")).to_have_text(edited)
    expect(page.locator("#reply-sent")).to_contain_text("looks right")
    expect(page.locator("#answer")).to_have_text(f"I sent your reply ({len(edited)} characters).")
    expect(page.locator("#usage-requests")).to_have_text("2")
    expect(page.locator("#usage-model")).to_have_text("offline-drafter")
    shot("3-completed")

    page.fill("#next-turn textarea[name=prompt]", "And can I export them to PDF?")
    page.click("#next-turn button[type=submit]")
    expect(page.locator("#run-status")).to_have_text("waiting_for_approval")
    second_id = page.locator("#run-id").inner_text()
    assert second_id != run_id
    expect(page.locator("#session-timeline .timeline-count")).to_have_text("2 runs in this session")
    rows = page.locator("#session-timeline tr.timeline-run")
    expect(rows).to_have_count(2)
    assert [rows.nth(i).get_attribute("data-run-id") for i in range(2)] == [second_id, run_id]
    shot("4-second-turn")

    assert sorted(path.name for path in tmp_path.glob("*.png")) == [
        "1-waiting-for-approval.png",
        "2-operator-evidence.png",
        "3-completed.png",
        "4-second-turn.png",
    ]
