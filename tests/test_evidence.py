"""The presenter of the evidence page: pure functions over ``get_run_detail`` rows."""

from scoria_django.evidence import cut, preview_value, step_tree


def step(sequence, parent=None):
    return {"id": f"s{sequence}", "sequence": sequence, "parent_step_id": parent}


def test_cut_keeps_77_characters_and_adds_an_ellipsis():
    assert cut("a" * 77) == "a" * 77
    assert cut("a" * 78) == "a" * 77 + "..."


def test_preview_of_non_strings_is_compact_sorted_json():
    assert preview_value({"b": 1, "a": [1, 2]}) == '{"a": [1, 2], "b": 1}'
    assert preview_value(list(range(100))).endswith("...")


def test_step_tree_orders_children_after_their_parent():
    steps = [step(1), step(2), step(3, "s1"), step(4, "s3"), step(5, "s1")]

    ordered = [(s["sequence"], depth) for s, depth in step_tree(steps)]

    assert ordered == [(1, 0), (3, 1), (4, 2), (5, 1), (2, 0)]


def test_step_tree_never_drops_a_step():
    # A parent cycle cannot come from the runtime, but evidence must still show every row.
    steps = [step(1, "s2"), step(2, "s1"), step(3, "missing")]

    shown = sorted(s["sequence"] for s, _ in step_tree(steps))

    assert shown == [1, 2, 3]
