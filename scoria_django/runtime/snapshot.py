"""The runtime snapshot (provider, model, prompt_policy) frozen into each run at creation."""

from django.utils.module_loading import import_string

from ..conf import scoria_settings
from ..exceptions import InvalidOption, UnsafeRuntimeOverride

SNAPSHOT_KEYS = ("provider", "model", "prompt_policy")

# (field, the baseline value that is the safe one): an override may not leave it.
_NARROWING_FIELDS = (
    ("tools_allowed", False),
    ("grounding_required", True),
    ("approval_required", True),
)


def _overlay(base, overlay, source):
    if not overlay:
        return base
    if not isinstance(overlay, dict):
        raise InvalidOption(f"{source} must be a dict", field=source)
    merged = dict(base)
    for key in SNAPSHOT_KEYS:
        if key not in overlay or overlay[key] is None:
            continue
        if key == "prompt_policy":
            if not isinstance(overlay[key], dict):
                raise InvalidOption("prompt_policy must be a dict", field=f"{source}.prompt_policy")
            merged[key] = {**merged[key], **overlay[key]}
        else:
            merged[key] = overlay[key]
    return merged


def baseline_for(identity):
    """Settings defaults overlaid by ``SCORIA_DEFAULTS_RESOLVER`` (tenant, then actor)."""
    snapshot = scoria_settings.RUNTIME_DEFAULTS
    resolver_path = scoria_settings.DEFAULTS_RESOLVER
    if resolver_path:
        resolved = import_string(resolver_path)(identity) or {}
        snapshot = _overlay(snapshot, resolved.get("tenant"), "resolver.tenant")
        snapshot = _overlay(snapshot, resolved.get("actor"), "resolver.actor")
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
