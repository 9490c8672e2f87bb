"""``python -m bench.callsites [sqlite|postgres]``: the Python calls of one facade 3-step
lifecycle, attributed to the scoria line that called into the ORM (or to scoria itself,
the transaction machinery, or ``django.tasks``). Reproduces the call-site table of
docs/performance.md, so a fix can be checked against it."""

import sys
import threading
from collections import Counter

from .harness import run_profiled


def _kind(filename):
    if "/scoria_django/" in filename or "/bench/" in filename:
        return "scoria"
    if "/django/tasks/" in filename:
        return "django.tasks"
    if "/django/db/" in filename or "/psycopg/" in filename:
        return "db"
    return None


def attribute(fn):
    """Counter of calls made by ``fn()`` (all threads), keyed by who is responsible."""
    state, totals, lock = threading.local(), Counter(), threading.Lock()

    def profiler(frame, event, arg):
        stack = getattr(state, "stack", None)
        if stack is None:
            stack = state.stack = [(None, "other")]
        if event == "call":
            kind, top = _kind(frame.f_code.co_filename), stack[-1][1]
            if kind in ("scoria", "django.tasks"):
                stack.append((frame, kind))
                top = kind
            elif kind == "db" and top in ("scoria", "django.tasks", "other"):
                caller = frame.f_back
                code = caller.f_code if caller else None
                top = (
                    f"ORM from {code.co_filename.rsplit('/', 1)[-1]}:{code.co_name}:"
                    f"{caller.f_lineno}"
                    if top == "scoria" and code
                    else "transactions / backends"
                )
                stack.append((frame, top))
            with lock:
                totals[top] += 1
        elif event == "return" and stack[-1][0] is frame:
            stack.pop()

    run_profiled(fn, profiler)
    return totals


def main():
    from .harness import setup_django

    setup_django(sys.argv[1] if len(sys.argv) > 1 else "sqlite")
    from . import scoria_cases

    for _ in range(5):
        scoria_cases.facade_lifecycle()  # warm
    totals = attribute(scoria_cases.facade_lifecycle)
    for who, calls in totals.most_common():
        print(f"{calls:7,d}  {who}")
    print(f"{sum(totals.values()):7,d}  total")


if __name__ == "__main__":
    main()
