"""The two verification lanes as tox environments with fixed lists of test files."""

import configparser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# The adoption lane: identity -> start -> inspect -> resume, the operator page, the commands
# (scoria_verify), the example project and its browser flow.
ADOPTION = [
    "tests/test_checks.py",
    "tests/test_identity.py",
    "tests/test_middleware.py",
    "tests/test_runtime_start.py",
    "tests/test_runtime_resume.py",
    "tests/test_evidence_page.py",
    "tests/test_commands.py",
    "tests/test_example_project.py",
    "tests/browser",
]
# The runtime-to-handoff lane: only the bounded escalation proof (default run, handoff,
# projected context, delegated evidence).
RUNTIME_TO_HANDOFF = [
    "tests/test_runtime_start.py",
    "tests/test_handoffs.py",
    "tests/test_projection.py",
    "tests/test_evidence.py",
    "tests/test_evidence_page.py",
]
# Setup paths the handoff lane must not need: a browser, worker fleets, real concurrency,
# process kills, the example project's subprocesses.
OPTIONAL_SETUP = (
    "tests/browser",
    "tests/workers",
    "tests/concurrency",
    "tests/test_process_kill.py",
    "tests/test_example_project.py",
)


def tox_env(name):
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ROOT / "tox.ini")
    return parser[f"testenv:{name}"]


def lane_paths(name):
    """The test paths of a lane's ``pytest`` command, continuation lines joined."""
    words = tox_env(name)["commands"].replace("\\\n", " ").split()
    assert words[:2] == ["pytest", "{posargs}"], words[:2]
    return words[2:]


@pytest.mark.parametrize(
    ("lane", "expected"),
    [("adoption", ADOPTION), ("runtime-to-handoff", RUNTIME_TO_HANDOFF)],
)
def test_lane_runs_its_fixed_list(lane, expected):
    paths = lane_paths(lane)
    assert paths == expected
    missing = [path for path in paths if not (ROOT / path).exists()]
    assert missing == []


def test_handoff_lane_excludes_optional_setup_paths():
    paths = lane_paths("runtime-to-handoff")
    assert [path for path in paths if path.startswith(OPTIONAL_SETUP)] == []
    assert "browser" not in tox_env("runtime-to-handoff").get("extras", "test")


def test_adoption_lane_installs_the_browser_extra():
    extras = tox_env("adoption")["extras"].split()
    assert extras == ["test", "browser"]


def test_lanes_run_on_the_configured_database():
    # Both inherit [testenv]'s passenv, so DATABASE_URL selects PostgreSQL for a lane too.
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ROOT / "tox.ini")
    assert "DATABASE_URL" in parser["testenv"]["passenv"]
    for lane in ("adoption", "runtime-to-handoff"):
        assert "passenv" not in parser[f"testenv:{lane}"]
