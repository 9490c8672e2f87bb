"""Text that enters scoria: ids, kinds, roles, keys. The one validator every surface uses.

Checked before any write so SQLite and PostgreSQL reject the same values: SQLite ignores
column widths and PostgreSQL raises on them; PostgreSQL cannot store a NUL character; and
neither driver can encode a lone surrogate (nor can a JSON renderer show one). The
facade, the manager verbs, the API and the commands all ask this module, so a value is
refused the same way, with the caller's own error code, wherever it comes in.
"""

MAX_KIND_LENGTH = 100  # Run.kind, Step.kind, Handoff.delegated_kind
MAX_ID_LENGTH = 255  # role ids, session / thread / actor / tenant ids

# What ``str.strip()`` removes, spelled out for a regular expression: ECMA's ``\s`` differs
# (it lacks \x1c-\x1f and \x85, and has \ufeff).
_SPACE = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# ``is_name`` as an OpenAPI ``pattern`` (the length limit goes in ``maxLength``): something
# besides whitespace, and no NUL. Lone surrogates cannot be expressed, nor sent as UTF-8.
NAME_PATTERN = rf"^[^\u0000]*[^\u0000{_SPACE}][^\u0000]*$"
# Any storable text, as a ``pattern``: no NUL.
TEXT_PATTERN = r"^[^\u0000]*$"


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored or shown as it is, or None when it can."""
    if "\x00" in text:
        return "a NUL character"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "a lone surrogate"
    return None


def is_text(value: object) -> bool:
    """A string that every database and renderer can hold (it may be blank)."""
    return isinstance(value, str) and text_problem(value) is None


def is_name(value: object, max_length: int = MAX_ID_LENGTH) -> bool:
    """A non-blank, storable string of at most ``max_length`` characters."""
    return (
        isinstance(value, str)
        and value.strip() != ""
        and len(value) <= max_length
        and text_problem(value) is None
    )


def check_name(value, *, field, error, max_length=MAX_ID_LENGTH, what=None):
    """Return ``value`` if ``is_name``, else raise ``error`` saying what is wrong with it."""
    if is_name(value, max_length):
        return value
    what = what or field
    problem = text_problem(value) if isinstance(value, str) else None
    if problem:
        detail = f"{what} contains {problem}"
    else:
        detail = f"{what} must be a non-blank string of at most {max_length} characters"
    raise error(detail, field=field)


def check_text(value, *, field, error, what=None):
    """Return ``value`` (any string, even blank) if storable, else raise ``error``."""
    if not isinstance(value, str):
        return value
    problem = text_problem(value)
    if problem:
        raise error(f"{what or field} contains {problem}", field=field)
    return value


def printable(text: str) -> str:
    """``text`` with lone surrogates escaped (``\\ud800``), so any renderer can show it.

    Error messages quote what the caller sent; the quote must not be what breaks the answer.
    """
    if text.isascii():
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
