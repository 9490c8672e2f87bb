"""The reference pages cover what the code defines: every setting, error code and check id,
and the mkdocs nav lists every page (CI builds the site with ``mkdocs build --strict``)."""

import inspect
import re
from pathlib import Path

import yaml

from scoria_django import exceptions

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "scoria_django"
DOCS = ROOT / "docs"


def package_sources():
    return "\n".join(path.read_text() for path in sorted(PACKAGE.rglob("*.py")))


def test_every_setting_has_a_section():
    names = set(re.findall(r"\bSCORIA_[A-Z_]+[A-Z]\b", package_sources()))
    conf = (PACKAGE / "conf.py").read_text()
    assert set(re.findall(r'"(SCORIA_[A-Z_]+)"', conf)) <= names
    documented = set(
        re.findall(r"^### (SCORIA_[A-Z_]+)$", (DOCS / "settings.md").read_text(), re.M)
    )
    assert names - documented == set()


def error_codes():
    codes = {
        cls.code
        for _, cls in inspect.getmembers(exceptions, inspect.isclass)
        if issubclass(cls, exceptions.ScoriaError)
    }
    source = package_sources()
    codes |= set(re.findall(r'\bcode="([a-z_]+)"', source))
    codes |= set(re.findall(r'\bdefault_code = "([a-z_]+)"', source))
    return codes


def test_every_error_code_is_documented():
    codes = error_codes()
    assert {"not_found", "not_resumable", "unsafe_projected_context"} <= codes
    documented = set(re.findall(r"^\| `([a-z_]+)`", (DOCS / "errors.md").read_text(), re.M))
    assert codes - documented == set()


def test_every_check_id_is_documented():
    ids = set(re.findall(r'id="(scoria\.[EW]\d{3})"', (PACKAGE / "checks.py").read_text()))
    assert "scoria.E001" in ids
    documented = set(
        re.findall(r"^## (scoria\.[EW]\d{3})$", (DOCS / "checks.md").read_text(), re.M)
    )
    assert ids - documented == set()


def nav_pages(entries):
    for entry in entries:
        for value in entry.values() if isinstance(entry, dict) else [entry]:
            if isinstance(value, list):
                yield from nav_pages(value)
            else:
                yield value


def test_nav_lists_every_page_and_only_existing_ones():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    listed = list(nav_pages(config["nav"]))
    assert len(listed) == len(set(listed))
    pages = {path.name for path in DOCS.glob("*.md")}
    assert set(listed) == pages
