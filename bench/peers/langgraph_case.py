"""LangGraph: 3 nodes with the Postgres checkpointer, and an interrupt() + Command(resume=...)
round trip, on the same PostgreSQL.

Usage: python langgraph_case.py ADMIN_URL N   (prints one JSON line)
"""

import sys
import uuid
from importlib.metadata import version
from typing import TypedDict

from common import emit, ensure_database, measure
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt

ADMIN_URL, N = sys.argv[1], int(sys.argv[2])
DB_NAME = "scoria_bench_lg"


class State(TypedDict):
    n: int
    approved_by: str


def bump(state):
    return {"n": state["n"] + 1}


def ask_approval(state):
    answer = interrupt({"tool": "send_email", "to": "a@example.com"})
    return {"approved_by": answer}


def three_nodes(saver):
    graph = StateGraph(State)
    for name in ("one", "two", "three"):
        graph.add_node(name, bump)
    graph.add_edge(START, "one")
    graph.add_edge("one", "two")
    graph.add_edge("two", "three")
    graph.add_edge("three", END)
    return graph.compile(checkpointer=saver)


def approval_graph(saver):
    graph = StateGraph(State)
    graph.add_node("approval", ask_approval)
    graph.add_edge(START, "approval")
    graph.add_edge("approval", END)
    return graph.compile(checkpointer=saver)


def main():
    ensure_database(ADMIN_URL, DB_NAME)
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + DB_NAME
    results = {}
    with PostgresSaver.from_conn_string(url) as saver:
        saver.setup()
        chain, approval = three_nodes(saver), approval_graph(saver)

        for durability in ("sync", "async"):

            def lifecycle(i, durability=durability):
                config = {"configurable": {"thread_id": str(uuid.uuid4())}}
                out = chain.invoke({"n": 0}, config, durability=durability)
                if out["n"] != 3:
                    raise RuntimeError(f"unexpected state {out!r}")

            results[f"langgraph_lifecycle_{durability}"] = measure(
                f"langgraph_3_nodes_{durability}", lifecycle, N
            )

            def round_trip(i, durability=durability):
                config = {"configurable": {"thread_id": str(uuid.uuid4())}}
                first = approval.invoke({"n": 0}, config, durability=durability)
                if "__interrupt__" not in first:
                    raise RuntimeError("the graph did not interrupt")
                done = approval.invoke(Command(resume="approver"), config, durability=durability)
                if done.get("approved_by") != "approver":
                    raise RuntimeError(f"unexpected resumed state {done!r}")

            results[f"langgraph_approval_{durability}"] = measure(
                f"langgraph_interrupt_resume_{durability}", round_trip, N
            )
    for value in results.values():
        value["version"] = version("langgraph")
    emit(results)


if __name__ == "__main__":
    main()
