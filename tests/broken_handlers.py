"""A handler module that exists but fails to import (a dependency it needs is missing).

``scoria.E003`` and ``handler_not_found`` must quote its own error, not call the path a typo.
"""

import scoria_test_missing_dependency  # noqa: F401


def handler(ctx):
    return {"ok": True}
