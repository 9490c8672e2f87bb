"""Model usage: the tokens a step's model requests spent, summed per step, per run and per
model, and their cost when ``SCORIA_MODEL_PRICES`` prices the model (docs/agents.md#usage).

Pure values: ``transitions.record_usage`` stores them, the read model prices them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .exceptions import InvalidPayload

COUNTS = ("input_tokens", "output_tokens", "requests")
MAX_MODEL_NAME = 255


def usage_entry(
    *, input_tokens: int = 0, output_tokens: int = 0, requests: int = 1, model: str | None = None
) -> dict[str, Any]:
    """One report of model usage, checked (``invalid_payload`` on a bad value)."""
    counts = {"input_tokens": input_tokens, "output_tokens": output_tokens, "requests": requests}
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidPayload(f"usage {name} must be an int >= 0", field=name)
    if model is not None:
        if not isinstance(model, str) or not model.strip():
            raise InvalidPayload("usage model must be a non-empty string or None", field="model")
        if len(model) > MAX_MODEL_NAME or "\x00" in model:
            raise InvalidPayload("usage model is not a valid name", field="model")
        model = model.encode("utf-8", "backslashreplace").decode("utf-8")
    return {**counts, "model": model}


def empty_usage() -> dict[str, Any]:
    return {"input_tokens": 0, "output_tokens": 0, "requests": 0, "model": None, "models": {}}


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _counts(value: object) -> dict[str, int]:
    source = value if isinstance(value, Mapping) else {}
    return {name: _count(source.get(name)) for name in COUNTS}


def readable(usage: object) -> dict[str, Any] | None:
    """A stored usage in its documented shape, whatever the row holds: None when it is not
    a mapping, counts that are not non-negative ints as 0, models that are not named
    dropped. Every read and every addition goes through here, so a row edited by hand
    cannot break a summary, a page or the next ``record_usage``."""
    if not isinstance(usage, Mapping) or not usage:
        return None
    model = usage.get("model")
    models = usage.get("models")
    return {
        **_counts(usage),
        "model": model if isinstance(model, str) and model else None,
        "models": {
            name: _counts(counts)
            for name, counts in (models.items() if isinstance(models, Mapping) else ())
            if isinstance(name, str) and name
        },
    }


def add_usage(total: object, entry: Mapping[str, Any]) -> dict[str, Any]:
    """``total`` with ``entry`` added (a new dict). ``model`` is the latest model named;
    ``models`` keeps the counts of each named model, what prices apply to."""
    result = readable(total) or empty_usage()
    added = readable(entry) or empty_usage()
    for name in COUNTS:
        result[name] += added[name]
    if not added["models"] and added["model"]:
        added["models"] = {added["model"]: {name: added[name] for name in COUNTS}}
    for model, counts in added["models"].items():
        kept = result["models"].get(model) or dict.fromkeys(COUNTS, 0)
        result["models"][model] = {name: kept[name] + counts[name] for name in COUNTS}
    if added["model"]:
        result["model"] = added["model"]
    return result


def total_usage(usages: Iterable[Mapping[str, Any] | None]) -> dict[str, Any] | None:
    """The sum of several usages (None when none was recorded)."""
    total = None
    for usage in usages:
        if usage:
            total = add_usage(total, usage)
    return total


def priced(usage: object) -> dict[str, Any] | None:
    """``usage`` as surfaces show it: with ``cost`` (and ``unpriced_models``, the models
    that used tokens and have no price) when ``SCORIA_MODEL_PRICES`` is set."""
    shown = readable(usage)
    if shown is None:
        return None
    from .conf import scoria_settings

    prices = scoria_settings.MODEL_PRICES
    if not prices:
        return shown
    cost = 0.0
    unpriced = []
    for model, counts in sorted(shown["models"].items()):
        price = prices.get(model)
        if price is None:
            if counts.get("input_tokens") or counts.get("output_tokens"):
                unpriced.append(model)
            continue
        cost += counts.get("input_tokens", 0) * float(price.get("input", 0)) / 1_000_000
        cost += counts.get("output_tokens", 0) * float(price.get("output", 0)) / 1_000_000
    shown["cost"] = round(cost, 6)
    if unpriced:
        shown["unpriced_models"] = unpriced
    return shown


def usage_by_tenant_and_day(rows: Iterable[tuple[Any, str | None, Any]]) -> list[dict[str, Any]]:
    """``(day, tenant_id, run usage)`` rows summed per day and tenant, newest day first,
    each priced: ``{"day", "tenant_id", "runs", **usage}``."""
    groups: dict[tuple[Any, str | None], tuple[int, dict[str, Any] | None]] = {}
    for day, tenant, usage in rows:
        if not isinstance(usage, Mapping) or not usage:
            continue
        runs, total = groups.get((day, tenant), (0, None))
        groups[(day, tenant)] = (runs + 1, add_usage(total, usage))
    ordered = sorted(groups.items(), key=lambda item: (-item[0][0].toordinal(), item[0][1] or ""))
    return [
        {"day": day, "tenant_id": tenant, "runs": runs, **(priced(total) or {})}
        for (day, tenant), (runs, total) in ordered
    ]
