"""Kinds and ids: non-blank strings that fit their columns.

Checked before any write so SQLite (which ignores column widths) and PostgreSQL (which
raises) reject the same values.
"""

MAX_KIND_LENGTH = 100  # Run.kind, Step.kind, Handoff.delegated_kind
MAX_ID_LENGTH = 255  # role ids, session / thread / actor / tenant ids


def is_name(value, max_length=MAX_ID_LENGTH):
    return isinstance(value, str) and value.strip() != "" and len(value) <= max_length
