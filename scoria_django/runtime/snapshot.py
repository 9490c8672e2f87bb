"""The runtime snapshot (provider, model, prompt_policy) frozen into each run at creation."""

import copy

from django.utils.module_loading import import_string

from ..conf import scoria_settings
from ..exceptions import InvalidOption, ScoriaConfigurationError, UnsafeRuntimeOverride

SNAPSHOT_KEYS = ("provider", "model", "prompt_policy")

# (field, the baseline value that is the safe one): an override may not leave it.
_NARROWING_FIELDS = (
    ("tools_allowed", False),
    ("grounding_required", True),
    ("approval_required", True),
)


def _field(source, key):
    return key if source == "options" else f"{source}.{key}"


def _overlay(base, overlay, source, error=InvalidOption):
    """``base`` with the snapshot keys of ``overlay``; prompt_policy merges field by field."""
    if not overlay:
        return base
    if not isinstance(overlay, dict):
        raise error(f"{source} must be a dict", field=source)
    merged = dict(base)
    for key in SNAPSHOT_KEYS:
        value = overlay.get(key)
        if value is None:
            continue
        if key == "prompt_policy":
            if not isinstance(value, dict):
                raise error("prompt_policy must be a dict", field=_field(source, key))
            merged[key] = {**merged[key], **copy.deepcopy(value)}
        elif not isinstance(value, str) or not value.strip():
            raise error(f"{key} must be a non-blank string", field=_field(source, key))
        else:
            merged[key] = value
    return merged


def _configuration_error(detail, *, field=None):
    return ScoriaConfigurationError(
        f"SCORIA_DEFAULTS_RESOLVER: {detail}", field=field, code="invalid_defaults_resolver"
    )


def baseline_for(identity):
    """Settings defaults overlaid by ``SCORIA_DEFAULTS_RESOLVER`` (tenant, then actor)."""
    snapshot = copy.deepcopy(scoria_settings.RUNTIME_DEFAULTS)
    resolver_path = scoria_settings.DEFAULTS_RESOLVER
    if not resolver_path:
        return snapshot
    try:
        resolver = import_string(resolver_path)
    except ImportError:
        raise _configuration_error(f"{resolver_path!r} does not import") from None
    resolved = resolver(identity) or {}
    if not isinstance(resolved, dict):
        raise _configuration_error("the resolver must return a dict or None")
    for level in ("tenant", "actor"):
        snapshot = _overlay(snapshot, resolved.get(level), level, _configuration_error)
    return snapshot


def resolve_snapshot(identity, top_level, runtime_overrides):
    """Defaults -> resolver -> top-level options -> ``runtime=`` options, never widened."""
    baseline = baseline_for(identity)
    snapshot = _overlay(baseline, top_level, "options")
    snapshot = _overlay(snapshot, runtime_overrides, "runtime")
    before, after = baseline["prompt_policy"], snapshot["prompt_policy"]
    for name, safe_value in _NARROWING_FIELDS:
        if before.get(name) == safe_value and after.get(name) != safe_value:
            raise UnsafeRuntimeOverride(
                f"prompt_policy.{name} may not be widened from {safe_value!r}",
                field=f"prompt_policy.{name}",
            )
    return snapshot
