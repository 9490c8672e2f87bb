"""The admin's run list at 1280 px: every column visible, the table no wider than its box."""

import os
import shutil

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "browser-admin-pw-1"
WIDTH = 1280


@pytest.fixture
def crowded_runs(django_user_model):
    # Created before the browser starts: no ORM call runs beside Playwright's event loop.
    from tests.factories import RunFactory

    django_user_model.objects.create_superuser("operator", password=PASSWORD)
    for index, status in enumerate(
        ["running", "waiting_for_approval", "completed", "failed", "cancelled"] * 4
    ):
        RunFactory(
            status=status,
            kind="assistant-reply-drafting",
            root_role_id="customer-support-executor",
            session_id=f"conversation-{index:04d}-" + "z" * 48,
            actor_id="operator-with-a-long-name@example.com",
            tenant_id="tenant-with-a-long-name",
            completed_at=None
            if status in ("running", "waiting_for_approval")
            else "2026-01-01T00:00:00Z",
        )


def test_the_run_list_fits_1280_px(crowded_runs, example_server, browser_page, tmp_path):
    from playwright.sync_api import expect

    page = browser_page
    page.set_viewport_size({"width": WIDTH, "height": 900})
    page.goto(f"{example_server.url}/admin/login/?next=/admin/scoria_django/run/")
    page.fill("#id_username", "operator")
    page.fill("#id_password", PASSWORD)
    page.click("#login-form input[type=submit], #login-form button[type=submit]")
    expect(page.locator("#result_list")).to_be_visible()

    widths = page.evaluate(
        """() => {
            const table = document.querySelector('#result_list');
            const box = table.closest('.results') || table.parentElement;
            return {table: table.scrollWidth, box: box.clientWidth,
                    page: document.documentElement.scrollWidth, viewport: window.innerWidth};
        }"""
    )
    shot = tmp_path / "admin-run-list-1280.png"
    page.screenshot(path=str(shot), full_page=False)
    if os.environ.get("SCORIA_SCREENSHOTS"):
        shutil.copy(shot, os.environ["SCORIA_SCREENSHOTS"])
    assert widths["table"] <= widths["box"], widths
    assert widths["page"] <= widths["viewport"], widths
    headers = page.locator("#result_list thead th").all_inner_texts()
    # The last line of a header is its name (a sorted column shows its sort rank above).
    names = [h.strip().splitlines()[-1].strip().lower() for h in headers if h.strip()]
    assert names == ["run", "status", "kind", "session", "age", "evidence"]
    for column in range(1, 7):  # every column's cells are inside the viewport
        cell = page.locator(f"#result_list tbody tr:first-child > *:nth-child({column})")
        box = cell.bounding_box()
        assert box is not None and box["x"] + box["width"] <= WIDTH, (column, box)
