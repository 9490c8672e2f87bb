"""DBOS Transact: a workflow of 3 ``@DBOS.step``s, its system database on the same PostgreSQL.

Usage: python dbos_case.py ADMIN_URL N   (prints one JSON line)
"""

import sys
from importlib.metadata import version

from common import emit, ensure_database, measure
from dbos import DBOS, DBOSConfig

ADMIN_URL, N = sys.argv[1], int(sys.argv[2])
DB_NAME = "scoria_bench_dbos"


@DBOS.step()
def step_one(n):
    return {"n": n + 1}


@DBOS.step()
def step_two(state):
    return {"n": state["n"] + 1}


@DBOS.step()
def step_three(state):
    return {"n": state["n"] + 1}


@DBOS.workflow()
def three_steps(n):
    return step_three(step_two(step_one(n)))


def main():
    ensure_database(ADMIN_URL, DB_NAME)
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + DB_NAME
    config: DBOSConfig = {
        "name": "scoria-bench",
        "system_database_url": url.replace("postgres://", "postgresql://", 1),
        "run_admin_server": False,
        "log_level": "WARNING",
    }
    DBOS(config=config)
    DBOS.launch()
    try:

        def lifecycle(i):
            result = three_steps(i)
            if result != {"n": i + 3}:
                raise RuntimeError(f"unexpected workflow result {result!r}")

        result = measure("dbos_3_step_workflow", lifecycle, N)
        result["version"] = version("dbos")
        emit({"dbos_lifecycle": result})
    finally:
        DBOS.destroy()


if __name__ == "__main__":
    main()
