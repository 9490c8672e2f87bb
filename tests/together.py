"""Run one piece of work on several threads released at the same moment (a race)."""

import threading

from django.db import close_old_connections


def together(count, work):
    """``work(index)`` on ``count`` threads lined up on a barrier; each thread's result, or
    the exception it raised, in index order."""
    barrier = threading.Barrier(count)
    results = [None] * count

    def run(index):
        close_old_connections()
        try:
            barrier.wait()
            results[index] = work(index)
        except Exception as exc:  # noqa: BLE001 - the outcome is what we count
            results[index] = exc
        finally:
            close_old_connections()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
