"""The runtime snapshot (docs/guide.md) frozen into each run at creation."""

import pytest
from django.test import override_settings

import scoria_django as scoria
from scoria_django.conf import DEFAULT_PROMPT_POLICY
from scoria_django.models import Event, Run

RESOLVED = {}


def resolver(identity):
    """SCORIA_DEFAULTS_RESOLVER for these tests: per-tenant, then per-actor overlays."""
    RESOLVED["identity"] = identity
    tenants = {
        "strict": {"prompt_policy": {"tools_allowed": False, "grounding_required": True}},
        "acme": {"model": "tenant-model", "prompt_policy": {"policy_key": "acme"}},
    }
    actors = {"vip": {"model": "actor-model", "provider": "anthropic"}}
    return {"tenant": tenants.get(identity.tenant_id), "actor": actors.get(identity.actor_id)}


def resolver_returning_a_list(identity):
    return ["not", "a", "dict"]


def resolver_with_a_bad_model(identity):
    return {"tenant": {"model": 5}}


def snapshot_of(summary):
    return Run.objects.get(pk=summary.run_id).metadata["runtime"]


@pytest.mark.django_db
def test_defaults():
    assert snapshot_of(scoria.start_run(None)) == {
        "provider": "openai",
        "model": "gpt-5-mini",
        "prompt_policy": {
            "policy_key": "default",
            "prompt_ref": None,
            "prompt_version": None,
            "tools_allowed": True,
            "grounding_required": False,
            "approval_required": False,
            "metadata": {},
        },
    }


@pytest.mark.django_db
@override_settings(
    SCORIA_RUNTIME_DEFAULTS={"model": "house-model", "prompt_policy": {"approval_required": True}}
)
def test_the_setting_overlays_the_defaults_field_by_field():
    snapshot = snapshot_of(scoria.start_run(None))
    assert snapshot["provider"] == "openai"
    assert snapshot["model"] == "house-model"
    assert snapshot["prompt_policy"] == {**DEFAULT_PROMPT_POLICY, "approval_required": True}


@pytest.mark.django_db
@override_settings(SCORIA_DEFAULTS_RESOLVER="tests.test_snapshot.resolver")
def test_the_resolver_overlays_tenant_then_actor():
    snapshot = snapshot_of(scoria.start_run({"tenant_id": "acme", "actor_id": "vip"}))
    assert RESOLVED["identity"] == scoria.identity(tenant_id="acme", actor_id="vip")
    assert snapshot["model"] == "actor-model"  # the actor overlay comes last
    assert snapshot["provider"] == "anthropic"
    assert snapshot["prompt_policy"]["policy_key"] == "acme"
    assert snapshot["prompt_policy"]["tools_allowed"] is True


@pytest.mark.django_db
@override_settings(SCORIA_DEFAULTS_RESOLVER="tests.test_snapshot.resolver")
def test_options_then_runtime_overlay_the_resolved_baseline():
    summary = scoria.start_run(
        {"tenant_id": "acme"},
        model="option-model",
        prompt_policy={"prompt_ref": "welcome", "prompt_version": 3},
        runtime={"model": "runtime-model", "prompt_policy": {"prompt_version": 4}},
    )
    snapshot = snapshot_of(summary)
    assert snapshot["model"] == "runtime-model"
    policy = snapshot["prompt_policy"]
    assert (policy["policy_key"], policy["prompt_ref"], policy["prompt_version"]) == (
        "acme",
        "welcome",
        4,
    )


@pytest.mark.django_db
@override_settings(
    SCORIA_DEFAULTS_RESOLVER="tests.test_snapshot.resolver",
    SCORIA_RUNTIME_DEFAULTS={"prompt_policy": {"approval_required": True}},
)
@pytest.mark.parametrize(
    ("policy", "field"),
    [
        ({"tools_allowed": True}, "prompt_policy.tools_allowed"),
        ({"grounding_required": False}, "prompt_policy.grounding_required"),
        ({"approval_required": False}, "prompt_policy.approval_required"),
    ],
)
def test_widening_the_baseline_is_unsafe_runtime_override(policy, field):
    # The "strict" tenant's baseline forbids tools and requires grounding and approval.
    with pytest.raises(scoria.ScoriaValidationError) as caught:
        scoria.start_run({"tenant_id": "strict"}, runtime={"prompt_policy": policy})
    assert caught.value.code == "unsafe_runtime_override"
    assert caught.value.field == field
    assert Run.objects.count() == Event.objects.count() == 0


@pytest.mark.django_db
@override_settings(SCORIA_DEFAULTS_RESOLVER="tests.test_snapshot.resolver")
def test_narrowing_is_allowed():
    snapshot = snapshot_of(
        scoria.start_run(
            None,
            runtime={
                "prompt_policy": {
                    "tools_allowed": False,
                    "grounding_required": True,
                    "approval_required": True,
                }
            },
        )
    )
    assert snapshot["prompt_policy"]["tools_allowed"] is False
    assert snapshot["prompt_policy"]["approval_required"] is True


@pytest.mark.django_db
def test_the_snapshot_is_frozen_when_settings_change_later():
    with override_settings(SCORIA_RUNTIME_DEFAULTS={"model": "v1"}):
        summary = scoria.start_run(None)
    with override_settings(SCORIA_RUNTIME_DEFAULTS={"model": "v2"}):
        assert snapshot_of(summary)["model"] == "v1"
        assert snapshot_of(scoria.start_run(None))["model"] == "v2"
    assert scoria.get_run_detail(summary.run_id).metadata["runtime"]["model"] == "v1"


@pytest.mark.django_db
def test_a_run_does_not_share_the_default_policy_dicts():
    snapshot = snapshot_of(scoria.start_run(None))
    snapshot["prompt_policy"]["metadata"]["changed"] = True
    assert DEFAULT_PROMPT_POLICY["metadata"] == {}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"runtime": {"prompt_policy": "strict"}}, "runtime.prompt_policy"),
        ({"runtime": {"model": ""}}, "runtime.model"),
        ({"provider": 3}, "provider"),
        ({"prompt_policy": ["x"]}, "prompt_policy"),
    ],
)
def test_malformed_snapshot_options_are_invalid_option(options, field):
    with pytest.raises(scoria.ScoriaValidationError) as caught:
        scoria.start_run(None, **options)
    assert (caught.value.code, caught.value.field) == ("invalid_option", field)
    assert Run.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "tests.test_snapshot.missing_resolver",
        "tests.test_snapshot.resolver_returning_a_list",
        "tests.test_snapshot.resolver_with_a_bad_model",
    ],
)
def test_a_broken_resolver_is_a_configuration_error(path):
    with (
        override_settings(SCORIA_DEFAULTS_RESOLVER=path),
        pytest.raises(scoria.ScoriaConfigurationError) as caught,
    ):
        scoria.start_run({"tenant_id": "acme"})
    assert caught.value.code == "invalid_defaults_resolver"
    assert Run.objects.count() == 0
