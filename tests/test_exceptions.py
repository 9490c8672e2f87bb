"""The ScoriaError family: stable codes, families, and the dict every surface shows."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from scoria_django import exceptions
from scoria_django.exceptions import (
    InvalidStatusTransition,
    ScoriaConfigurationError,
    ScoriaConflict,
    ScoriaError,
    ScoriaNotFound,
    ScoriaValidationError,
)

# docs/errors.md: each code, and the family a surface maps it to (400 / 404 / 409).
SECTION_2_CODES = {
    "unsupported_scope_key": ScoriaValidationError,
    "invalid_scope": ScoriaValidationError,
    "session_id_required_for_thread": ScoriaValidationError,
    "parent_run_not_found": ScoriaNotFound,
    "inconsistent_parent_scope": ScoriaValidationError,
    "invalid_run_opt": ScoriaValidationError,
    "unsupported_run_opt": ScoriaValidationError,
    "already_exists": ScoriaConflict,
    "not_found": ScoriaNotFound,
    "invalid_status_transition": ScoriaConflict,
    "active_steps": ScoriaConflict,
    "run_not_active": ScoriaConflict,
    "invalid_step_opt": ScoriaValidationError,
    "unsupported_step_opt": ScoriaValidationError,
    "invalid_filter": ScoriaValidationError,
    "unsupported_filter": ScoriaValidationError,
    "invalid_payload": ScoriaValidationError,
}


def _classes():
    return [
        value
        for value in vars(exceptions).values()
        if isinstance(value, type) and issubclass(value, ScoriaError)
    ]


def test_every_section_2_code_has_one_class_in_the_right_family():
    by_code = {}
    for cls in _classes():
        by_code.setdefault(cls.code, []).append(cls)
    for code, family in SECTION_2_CODES.items():
        leaves = [cls for cls in by_code.get(code, []) if cls is not family]
        assert len(leaves) == 1, code
        assert issubclass(leaves[0], family), code


FAMILIES = {ScoriaError, ScoriaValidationError, ScoriaNotFound, ScoriaConflict}


def test_codes_are_unique_lowercase_identifiers():
    # NotFound shares "not_found" with its family base on purpose; leaves never collide.
    codes = [cls.code for cls in _classes() if cls not in FAMILIES]
    assert len(codes) == len(set(codes))
    assert all(code.replace("_", "").isalpha() and code == code.lower() for code in codes)


def test_families_are_also_the_python_exceptions_callers_already_catch():
    assert issubclass(ScoriaValidationError, ValueError)
    assert issubclass(ScoriaNotFound, LookupError)
    assert issubclass(ScoriaConfigurationError, ImproperlyConfigured)
    assert not issubclass(ScoriaConflict, ValueError)


def test_detail_field_and_as_dict():
    error = exceptions.InvalidScope("thread_id must be a non-blank string", field="thread_id")
    assert str(error) == "thread_id must be a non-blank string"
    assert error.as_dict() == {
        "code": "invalid_scope",
        "detail": "thread_id must be a non-blank string",
        "field": "thread_id",
    }
    assert "invalid_scope" in repr(error)


def test_detail_defaults_to_the_code_in_words():
    error = exceptions.ActiveSteps()
    assert error.detail == "active steps"
    assert error.field is None


def test_a_code_may_be_given_per_instance_without_changing_the_class():
    error = ScoriaError("custom", code="something_else")
    assert error.code == "something_else"
    assert ScoriaError.code == "scoria_error"


def test_invalid_status_transition_names_current_and_target():
    error = InvalidStatusTransition("completed", "cancelled")
    assert (error.current, error.target) == ("completed", "cancelled")
    assert error.detail == "cannot move from completed to cancelled"
    assert error.as_dict() == {
        "code": "invalid_status_transition",
        "detail": "cannot move from completed to cancelled",
        "field": None,
        "current": "completed",
        "target": "cancelled",
    }


def test_raised_errors_can_be_caught_by_family():
    with pytest.raises(ScoriaNotFound) as caught:
        raise exceptions.ParentRunNotFound("gone", field="parent_run_id")
    assert caught.value.code == "parent_run_not_found"
