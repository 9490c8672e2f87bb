import io
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from scoria_django import checks
from scoria_django.compat import IMMEDIATE_BACKEND
from scoria_django.conf import Settings

SESSION = "django.contrib.sessions.middleware.SessionMiddleware"
AUTH = "django.contrib.auth.middleware.AuthenticationMiddleware"
MESSAGES = "django.contrib.messages.middleware.MessageMiddleware"
SCORIA = checks.MIDDLEWARE_PATH


def ids(messages):
    return [message.id for message in messages]


# A URLconf without scoria's views (scoria.W002).
urlpatterns: list = []


def test_the_test_settings_pass_every_check():
    assert checks.check_middleware_order() == []
    assert checks.check_middleware_installed() == []
    assert checks.check_handlers_import() == []
    assert checks.check_numeric_settings() == []
    assert checks.check_tenant_resolver() == []
    assert checks.check_task_backend() == []
    assert checks.check_runtime_defaults() == []
    assert checks.check_defaults_resolver() == []
    assert checks.check_session_key() == []
    assert checks.check_redacted_keys() == []
    assert checks.check_redaction_patterns() == []


# Plain `check` runs the model checks, which ask every database about JSON support.
ALL_DATABASES = pytest.mark.django_db(databases="__all__")


def run_check():
    """``manage.py check`` as a user runs it: (output, the SystemCheckError text or "")."""
    out = io.StringIO()
    try:
        call_command("check", stdout=out, stderr=out)
    except SystemCheckError as exc:
        return out.getvalue(), str(exc)
    return out.getvalue(), ""


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


# scoria.W001 with plain `manage.py check` ---------------------------------------------


@ALL_DATABASES
def test_w001_is_reported_by_plain_check_with_the_fix(monkeypatch):
    deferred = SimpleNamespace(vendor="sqlite", settings_dict={"OPTIONS": {}})
    immediate = SimpleNamespace(
        vendor="sqlite", settings_dict={"OPTIONS": {"transaction_mode": "IMMEDIATE"}}
    )
    fake = {"default": deferred, "scoria_routed": immediate}
    monkeypatch.setattr(checks, "connections", fake)

    output, error = run_check()

    assert error == ""
    assert "(scoria.W001) Database 'default' is SQLite without" in output
    assert "Fix: DATABASES['default']['OPTIONS'] = {'transaction_mode': 'IMMEDIATE'}" in output


# scoria.W002 ---------------------------------------------------------------------------


@ALL_DATABASES
def test_w002_middleware_missing_while_scoria_views_are_routed():
    with override_settings(MIDDLEWARE=[SESSION, AUTH, MESSAGES]):
        warnings = checks.check_middleware_installed()
        output, _ = run_check()

    assert ids(warnings) == ["scoria.W002"]
    assert "(scoria.W002) scoria's views are routed but" in output


def test_w002_not_raised_without_scoria_urls():
    with override_settings(MIDDLEWARE=[SESSION, AUTH], ROOT_URLCONF="tests.test_checks"):
        assert checks.check_middleware_installed() == []


# scoria.E003: the real import error ----------------------------------------------------


@ALL_DATABASES
@pytest.mark.parametrize(
    ("path", "reason"),
    [
        (
            "tests.handlerz.echo",
            "no module named 'tests.handlerz' (is the path 'tests.handlerz.echo' spelled right?)",
        ),
        (
            "tests.broken_handlers.handler",
            "module 'tests.broken_handlers' fails to import: ModuleNotFoundError: "
            "No module named 'scoria_test_missing_dependency'",
        ),
        (
            "tests.raising_handlers.handler",
            "module 'tests.raising_handlers' fails to import: RuntimeError: "
            "ACME_API_URL is not configured",
        ),
        ("tests.handlers.no_such_handler", "module 'tests.handlers' has no attribute"),
    ],
)
def test_e003_tells_a_typo_from_a_module_that_fails_to_import(path, reason):
    with override_settings(SCORIA_HANDLERS={"approval": path}):
        errors = checks.check_handlers_import()
        _, error = run_check()

    assert ids(errors) == ["scoria.E003"]
    assert reason in errors[0].msg
    assert "(scoria.E003)" in error and reason in error


def test_e003_quotes_the_import_error_redacted():
    with override_settings(SCORIA_HANDLERS={"approval": "tests.leaky_handlers.handler"}):
        errors = checks.check_handlers_import()

    assert "RuntimeError: cannot reach postgres://app:[redacted]@db/prod" in errors[0].msg
    assert "import-pw-1" not in errors[0].msg


def test_e002_handler_kinds_must_be_strings():
    with override_settings(SCORIA_HANDLERS={3: "tests.handlers.echo"}):
        assert ids(checks.check_handlers_import()) == ["scoria.E002"]


# One check per setting -----------------------------------------------------------------

# Setting -> (a wrong value, the check id that reports it). Every setting of conf.Settings
# is here (the test below says so), and each row is run through plain `manage.py check`.
WRONG_SETTINGS = {
    "SCORIA_HANDLERS": ("tests.handlers.echo", "scoria.E002"),
    "SCORIA_STEP_TIMEOUT": ("30", "scoria.E004"),
    "SCORIA_LEASE_SECONDS": (0, "scoria.E004"),
    "SCORIA_MAX_ATTEMPTS": (2.5, "scoria.E004"),
    "SCORIA_REQUEUE_AFTER": (float("inf"), "scoria.E004"),
    "SCORIA_MAX_PAYLOAD_BYTES": (-1, "scoria.E004"),
    "SCORIA_MAX_CONTEXT_BYTES": ("64k", "scoria.E004"),
    "SCORIA_MAX_DEPTH": (True, "scoria.E004"),
    "SCORIA_TASK_BACKEND": ("workers", "scoria.E006"),
    "SCORIA_TASK_QUEUE": ("", "scoria.E007"),
    "SCORIA_RUNTIME_DEFAULTS": ({"modle": "gpt-5"}, "scoria.E008"),
    "SCORIA_DEFAULTS_RESOLVER": ("tests.nowhere.resolve", "scoria.E009"),
    "SCORIA_TENANT_RESOLVER": ("tests.nowhere.resolve", "scoria.E005"),
    "SCORIA_SESSION_KEY": ("  ", "scoria.E010"),
    "SCORIA_API_MAX_PAGE_SIZE": (0, "scoria.E004"),
    "SCORIA_API_PAGE_SIZE": ("25", "scoria.E004"),
    "SCORIA_REDACTED_KEYS": ("ssn", "scoria.E011"),
    "SCORIA_REDACTION_PATTERNS": (["(unclosed"], "scoria.E012"),
    "SCORIA_MAX_STEPS_PER_RUN": (0, "scoria.E004"),
    "SCORIA_APPROVAL_POLICY": ("tests.nowhere.policy", "scoria.E013"),
    "SCORIA_SESSION_CONCURRENCY": ("queue", "scoria.E014"),
    "SCORIA_STREAM_POLL_SECONDS": (0, "scoria.E004"),
    "SCORIA_STREAM_HEARTBEAT_SECONDS": ("15", "scoria.E004"),
    "SCORIA_PROGRESS_MIN_INTERVAL": (-1, "scoria.E004"),
    "SCORIA_MODEL_PRICES": ({"gpt-4o": {"input": "2.5"}}, "scoria.E015"),
}


def test_every_setting_has_a_check():
    documented = {f"SCORIA_{name}" for name in vars(Settings) if name.isupper()}
    assert set(WRONG_SETTINGS) == documented


@ALL_DATABASES
@pytest.mark.parametrize(("setting", "wrong"), WRONG_SETTINGS.items())
def test_a_wrong_setting_fails_plain_check(setting, wrong):
    value, check_id = wrong
    with override_settings(**{setting: value}):
        _, error = run_check()

    assert f"({check_id})" in error
    assert setting in error


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SCORIA_MAX_PAYLOAD_BYTES", 0),
        ("SCORIA_MAX_CONTEXT_BYTES", 1.5),
        ("SCORIA_MAX_DEPTH", "32"),
        ("SCORIA_API_PAGE_SIZE", None),
        ("SCORIA_API_MAX_PAGE_SIZE", -5),
        ("SCORIA_STEP_TIMEOUT", float("nan")),
    ],
)
def test_e004_every_numeric_setting(name, value):
    with override_settings(**{name: value}):
        errors = checks.check_numeric_settings()

    assert ids(errors) == ["scoria.E004"]
    assert name in errors[0].msg


def test_e004_accepts_numbers_of_the_right_type():
    with override_settings(SCORIA_STEP_TIMEOUT=0.5, SCORIA_MAX_DEPTH=4, SCORIA_MAX_ATTEMPTS=1):
        assert checks.check_numeric_settings() == []


# scoria.E006 / E007 --------------------------------------------------------------------


def test_e006_unknown_task_backend_names_the_configured_aliases():
    with override_settings(SCORIA_TASK_BACKEND="workers"):
        errors = checks.check_task_backend()

    assert ids(errors) == ["scoria.E006"]
    assert "'workers' is not an alias in TASKS (configured: default)" in errors[0].msg


def test_e006_backend_that_does_not_load():
    tasks = {"default": {"BACKEND": "tests.nowhere.Backend"}}
    with override_settings(TASKS=tasks):
        errors = checks.check_task_backend()

    assert ids(errors) == ["scoria.E006"]
    assert "does not load" in errors[0].msg


@pytest.mark.parametrize("queue", ["bulk", "", 3])
def test_e007_queue_the_backend_does_not_accept(queue):
    tasks = {"default": {"BACKEND": IMMEDIATE_BACKEND, "QUEUES": ["default", "steps"]}}
    with override_settings(TASKS=tasks, SCORIA_TASK_QUEUE=queue):
        errors = checks.check_task_backend()

    assert ids(errors) == ["scoria.E007"]


def test_e007_not_raised_for_a_listed_queue_or_a_backend_without_queues():
    tasks = {"default": {"BACKEND": IMMEDIATE_BACKEND, "QUEUES": ["default", "steps"]}}
    with override_settings(TASKS=tasks, SCORIA_TASK_QUEUE="steps"):
        assert checks.check_task_backend() == []
    tasks = {"default": {"BACKEND": IMMEDIATE_BACKEND, "QUEUES": []}}
    with override_settings(TASKS=tasks, SCORIA_TASK_QUEUE="anything"):
        assert checks.check_task_backend() == []


# scoria.E008 ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("gpt-5", "it must be a dict"),
        ({"modle": "gpt-5"}, "unknown key 'modle'"),
        ({"model": ""}, "model must be a non-blank string"),
        ({"prompt_policy": []}, "prompt_policy must be a dict"),
        ({"prompt_policy": {"tools_allowed": "no"}}, "prompt_policy.tools_allowed must be True"),
        ({"prompt_policy": {"tool_allowed": False}}, "unknown prompt_policy key"),
        ({"prompt_policy": {"metadata": "x"}}, "prompt_policy.metadata must be a dict"),
    ],
)
def test_e008_runtime_defaults(value, problem):
    with override_settings(SCORIA_RUNTIME_DEFAULTS=value):
        errors = checks.check_runtime_defaults()

    assert ids(errors) == ["scoria.E008"]
    assert problem in errors[0].msg


def test_e008_accepts_the_documented_shape():
    value = {"provider": "anthropic", "prompt_policy": {"tools_allowed": False, "metadata": {}}}
    with override_settings(SCORIA_RUNTIME_DEFAULTS=value):
        assert checks.check_runtime_defaults() == []


# scoria.E009 / E010 --------------------------------------------------------------------


@pytest.mark.parametrize("path", ["tests.nowhere.resolve", "tests.test_checks.NOT_CALLABLE", 7])
def test_e009_defaults_resolver_must_import_a_callable(path):
    with override_settings(SCORIA_DEFAULTS_RESOLVER=path):
        assert ids(checks.check_defaults_resolver()) == ["scoria.E009"]


@pytest.mark.parametrize("value", ["", " ", None, 3])
def test_e010_session_key(value):
    with override_settings(SCORIA_SESSION_KEY=value):
        assert ids(checks.check_session_key()) == ["scoria.E010"]


# scoria.E011 / E012 --------------------------------------------------------------------


@pytest.mark.parametrize("value", ["ssn", ["ssn", ""], [3], {"ssn": True}])
def test_e011_redacted_keys(value):
    with override_settings(SCORIA_REDACTED_KEYS=value):
        assert ids(checks.check_redacted_keys()) == ["scoria.E011"]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (["(unclosed"], "is not a regular expression"),
        (["a*"], "matches the empty string"),
        (r"\bacme_\w+", "must be a list of strings"),
    ],
)
def test_e012_redaction_patterns(value, problem):
    with override_settings(SCORIA_REDACTION_PATTERNS=value):
        errors = checks.check_redaction_patterns()

    assert ids(errors) == ["scoria.E012"]
    assert problem in errors[0].msg


def test_redaction_settings_accept_lists_of_strings():
    with override_settings(
        SCORIA_REDACTED_KEYS=("ssn",), SCORIA_REDACTION_PATTERNS=[r"\bacme_\w{8}"]
    ):
        assert checks.check_redacted_keys() == []
        assert checks.check_redaction_patterns() == []


def test_no_step_budget_is_a_valid_setting():
    with override_settings(SCORIA_MAX_STEPS_PER_RUN=None):
        assert checks.check_numeric_settings() == []
