from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from scoria_django import checks

SESSION = "django.contrib.sessions.middleware.SessionMiddleware"
AUTH = "django.contrib.auth.middleware.AuthenticationMiddleware"
SCORIA = checks.MIDDLEWARE_PATH


def ids(messages):
    return [message.id for message in messages]


def test_the_test_settings_pass_every_check():
    assert checks.check_middleware_order() == []
    assert checks.check_handlers_import() == []
    assert checks.check_numeric_settings() == []
    assert checks.check_tenant_resolver() == []


# scoria.E001 ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "middleware, missing",
    [
        ([SCORIA, SESSION, AUTH], 2),
        ([SESSION, SCORIA, AUTH], 1),
        ([SESSION, SCORIA], 1),
    ],
)
def test_e001_middleware_before_session_or_auth(middleware, missing):
    with override_settings(MIDDLEWARE=middleware):
        errors = checks.check_middleware_order()

    assert ids(errors) == ["scoria.E001"] * missing
    assert all(error.hint for error in errors)


def test_e001_not_raised_when_order_is_right_or_middleware_absent():
    with override_settings(MIDDLEWARE=[SESSION, AUTH, SCORIA]):
        assert checks.check_middleware_order() == []
    with override_settings(MIDDLEWARE=[SESSION]):
        assert checks.check_middleware_order() == []


@override_settings(MIDDLEWARE=[SCORIA, SESSION, AUTH])
def test_e001_fails_manage_py_check():
    with pytest.raises(SystemCheckError, match="scoria.E001"):
        call_command("check", tags=["compatibility"])


# scoria.W001 ---------------------------------------------------------------------------


def fake_connections(monkeypatch, vendor, options):
    connection = SimpleNamespace(vendor=vendor, settings_dict={"OPTIONS": options})
    monkeypatch.setattr(checks, "connections", {"default": connection})


@pytest.mark.parametrize("options", [{}, {"transaction_mode": "DEFERRED"}])
def test_w001_sqlite_without_immediate_mode(monkeypatch, options):
    fake_connections(monkeypatch, "sqlite", options)

    warnings = checks.check_sqlite_transaction_mode(databases=["default"])

    assert ids(warnings) == ["scoria.W001"]
    assert "IMMEDIATE" in warnings[0].hint


@pytest.mark.parametrize(
    "vendor, options",
    [("sqlite", {"transaction_mode": "IMMEDIATE"}), ("postgresql", {})],
)
def test_w001_not_raised_for_immediate_sqlite_or_other_databases(monkeypatch, vendor, options):
    fake_connections(monkeypatch, vendor, options)

    assert checks.check_sqlite_transaction_mode(databases=["default"]) == []


# scoria.E002 / E003 ----------------------------------------------------------------------


def test_e002_handlers_not_a_dict():
    with override_settings(SCORIA_HANDLERS=["tests.handlers.echo"]):
        assert ids(checks.check_handlers_import()) == ["scoria.E002"]


def test_e003_handler_path_does_not_import():
    handlers = {"echo": "tests.handlers.echo", "ghost": "tests.handlers.no_such_handler"}
    with override_settings(SCORIA_HANDLERS=handlers):
        errors = checks.check_handlers_import()

    assert ids(errors) == ["scoria.E003"]
    assert "ghost" in errors[0].msg


# scoria.E004 ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, value",
    [
        ("SCORIA_STEP_TIMEOUT", 0),
        ("SCORIA_LEASE_SECONDS", -1),
        ("SCORIA_MAX_ATTEMPTS", "many"),
        ("SCORIA_REQUEUE_AFTER", None),
    ],
)
def test_e004_numeric_settings_must_be_positive(name, value):
    with override_settings(**{name: value}):
        errors = checks.check_numeric_settings()

    assert ids(errors) == ["scoria.E004"]
    assert name in errors[0].msg


# scoria.E005 ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "tests.operator_tenants.no_such_resolver",
        "not_a_dotted_path",
        "tests.test_checks.NOT_CALLABLE",
    ],
)
def test_e005_tenant_resolver_must_import_a_callable(path):
    with override_settings(SCORIA_TENANT_RESOLVER=path):
        errors = checks.check_tenant_resolver()

    assert ids(errors) == ["scoria.E005"]
    assert path in errors[0].msg


NOT_CALLABLE = "a string"


def test_e005_not_raised_for_a_valid_resolver():
    with override_settings(SCORIA_TENANT_RESOLVER="tests.operator_tenants.tenant_from_username"):
        assert checks.check_tenant_resolver() == []
