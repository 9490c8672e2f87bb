"""The issue's targets, evaluated from one run's results, and the printed tables."""

PG = ("postgres", "postgresql")


def _get(data, *keys):
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _ratio(a, b):
    return round(a / b, 2) if a and b else None


def _row(target, db, measured, goal, met, note=""):
    return {
        "target": target,
        "db": db,
        "measured": measured,
        "goal": goal,
        "met": met,
        "note": note,
    }


def targets(payload):
    rows = []
    peers = payload.get("peers") or {}
    for db, res in payload["databases"].items():
        if "error" in res:
            rows.append(_row("all", db, None, None, None, res["error"]))
            continue
        single = res["single"]
        ops = {name: value["ops_per_s"] for name, value in single.items()}
        ratio = _ratio(ops["facade_lifecycle"], ops["raw_lifecycle"])
        rows.append(
            _row(
                "facade 3-step lifecycle / raw-SQL lifecycle",
                db,
                ratio,
                ">= 0.7",
                ratio is not None and ratio >= 0.7,
            )
        )
        if db in PG:
            for peer, key, goal in (
                ("DBOS 3-step workflow", "dbos_lifecycle", 2.0),
                ("LangGraph 3 nodes (durability=sync)", "langgraph_lifecycle_sync", 1.4),
            ):
                theirs = _get(peers, key, "ops_per_s")
                r = _ratio(ops["facade_lifecycle"], theirs)
                note = "" if theirs else f"peer not measured: {peers.get('skipped') or peers}"
                rows.append(
                    _row(
                        f"facade lifecycle / {peer}",
                        db,
                        r,
                        f"about {goal}",
                        r is not None and r >= goal,
                        note,
                    )
                )
        acc = res["accounting"]["facade_lifecycle"]
        rows.append(
            _row("commits per 3-step lifecycle", db, acc["commits"], "<= 5", acc["commits"] <= 5)
        )
        rows.append(
            _row("DML statements per 3-step lifecycle", db, acc["dml"], "<= 18", acc["dml"] <= 18)
        )
        calls = acc.get("python_calls")
        rows.append(
            _row(
                "Python function calls per 3-step lifecycle",
                db,
                calls,
                "<= 7000",
                calls is not None and calls <= 7000,
            )
        )
        r = _ratio(ops["verb_transition"], ops["raw_transition"])
        rows.append(
            _row(
                "manager verb / raw guarded transition", db, r, ">= 0.5", r is not None and r >= 0.5
            )
        )
        if db in PG:
            theirs = _get(peers, "langgraph_approval_sync", "ops_per_s")
            r = _ratio(ops["approval_round_trip"], theirs)
            rows.append(
                _row(
                    "approval round trip / LangGraph interrupt+resume (sync)",
                    db,
                    r,
                    ">= 2",
                    r is not None and r >= 2,
                )
            )
        rows.extend(_scale_rows(db, res.get("scale") or {}))
        errors = [c.get("errors", 0) for c in res["concurrent"].values()]
        note = "; ".join(
            f"{name}: {c['extra']['first_error']}"
            for name, c in res["concurrent"].items()
            if c.get("errors")
        )
        rows.append(
            _row(
                "errors with 8 concurrent writer processes",
                db,
                sum(errors),
                "0",
                sum(errors) == 0,
                note,
            )
        )
        one, two = _get(res, "workers", "workers_1"), _get(res, "workers", "workers_2")
        if one and two:
            r = _ratio(two["ops_per_s"], one["ops_per_s"])
            rows.append(
                _row("2 db_workers / 1 db_worker", db, r, ">= 1.6", r is not None and r >= 1.6)
            )
    return rows


def _scale_rows(db, scale):
    rows = []
    if "queries" not in scale:
        return [_row("scale", db, None, None, None, scale.get("skipped", "not run"))]
    pg = db in PG
    by_name = {q["name"]: q for q in scale["queries"]}
    api_note = scale["notes"].get("api")
    size = f"{scale['size']:,} runs"
    for name, api_name, label in (
        ("session_newest_50", "api_session_list", "newest 50 of a session"),
        (
            "big_session_newest_50",
            "api_big_session_list",
            f"newest 50 of a {scale['big_session']:,}-run session",
        ),
        ("by_status_newest_50", "api_runs_by_status", "newest 50 by status"),
    ):
        api = by_name.get(api_name)
        source = by_name[name] if not api or "skipped" in api else api
        via = "API" if source is api else "facade (API " + (api_note or "route failed") + ")"
        goal = 10 if pg else 5
        rows.append(
            _row(
                f"{label} p99 ms at {size}, via {via}",
                db,
                round(source["p99_ms"], 2),
                f"< {goal}",
                source["p99_ms"] < goal,
            )
        )
    lookup = by_name["resume_lookup"]
    goal = 3 if pg else 1
    rows.append(
        _row(
            f"resume lookup by run_id p99 ms at {size}",
            db,
            round(lookup["p99_ms"], 2),
            f"< {goal}",
            lookup["p99_ms"] < goal,
        )
    )
    unindexed = [q["name"] for q in scale["queries"] if q.get("uses_index") is False]
    rows.append(
        _row(
            "scale queries read through an index (EXPLAIN)",
            db,
            "all" if not unindexed else ", ".join(unindexed),
            "all",
            not unindexed,
        )
    )
    if pg:
        prepared = scale["notes"].get("server_side_prepared_statements")
        rows.append(
            _row(
                "server-side prepared statements on Django's connection",
                db,
                prepared,
                "0",
                prepared == 0,
            )
        )
    return rows


def _table(headers, rows):
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    line = "| " + " | ".join(str(h).ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = [
        "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) + " |"
        for r in rows
    ]
    return "\n".join([line, sep, *body])


def _fmt(value, digits=2):
    return f"{value:.{digits}f}" if isinstance(value, float) else ("-" if value is None else value)


def render(payload):
    m = payload["machine"]
    out = [
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, load {m['load_average']}",
        f"Python {m['python']}, Django {m['django']}, PostgreSQL {m['postgresql']}, "
        f"SQLite {m['sqlite']}, psycopg {m['psycopg']}",
        "",
    ]
    for db, res in payload["databases"].items():
        if "error" in res:
            out += [f"## {db}: {res['error']}", ""]
            continue
        raw = res["single"]["raw_lifecycle"]["ops_per_s"]
        raw_tx = res["single"]["raw_transition"]["ops_per_s"]
        raw_c = _get(res, "concurrent", "raw_lifecycle", "ops_per_s")
        rows = []
        cases = [*res["single"].values(), *res["concurrent"].values()]
        for c in [*cases, *res.get("workers", {}).values()]:
            if not isinstance(c, dict) or "ops_per_s" not in c:
                continue
            base = raw_tx if "transition" in c["name"] else raw
            if any(c is other for other in res["concurrent"].values()):
                base = raw_c or base
            rows.append(
                [
                    c["name"],
                    _fmt(c["ops_per_s"], 1),
                    _fmt(c["p50_ms"]),
                    _fmt(c["p99_ms"]),
                    c["errors"],
                    _fmt(_ratio(c["ops_per_s"], base)),
                ]
            )
        out += [
            f"## {db}: throughput (x raw = ops/s over the raw-SQL case of the same shape and"
            " concurrency)",
            _table(["case", "ops/s", "p50 ms", "p99 ms", "errors", "x raw"], rows),
            "",
        ]
        acc = res["accounting"]
        rows = [
            [
                name,
                a.get("statements"),
                a.get("dml"),
                a.get("commits"),
                a.get("python_calls", "-"),
                _fmt(a.get("wall_ms")),
                _fmt(a.get("statements_ms")),
                _fmt(a.get("commits_ms")),
            ]
            for name, a in acc.items()
        ]
        headers = ["case", "statements", "DML", "commits", "Python calls", "wall ms"]
        out += [
            f"## {db}: per lifecycle (ms: one call, and its time inside statements / commits)",
            _table([*headers, "in statements ms", "in commits ms"], rows),
            "",
        ]
        scale = res.get("scale") or {}
        if "queries" in scale:
            rows = [
                [
                    q["name"],
                    _fmt(q.get("p50_ms")),
                    _fmt(q.get("p99_ms")),
                    _fmt(q.get("raw_p50_ms")),
                    _fmt(q.get("raw_p99_ms")),
                    q.get("uses_index", "-"),
                    _fmt(q.get("slowest_1pct_ms_mean")),
                    _fmt(q.get("slowest_1pct_gc_ms_mean")),
                ]
                for q in scale["queries"]
                if "p99_ms" in q
            ]
            out += [
                f"## {db}: scale, {scale['size']:,} runs (generated in "
                f"{scale['generate_seconds']} s); {scale['notes']}",
                _table(
                    [
                        "query",
                        *("p50 ms", "p99 ms", "raw p50", "raw p99", "index"),
                        *("slowest 1% ms", "of which GC ms"),
                    ],
                    rows,
                ),
                "",
            ]
    peers = payload.get("peers")
    if peers:
        rows = [
            [
                k,
                _fmt(v.get("ops_per_s"), 1),
                _fmt(v.get("p50_ms")),
                _fmt(v.get("p99_ms")),
                v.get("version", ""),
            ]
            if isinstance(v, dict) and "ops_per_s" in v
            else [k, "-", "-", "-", str(v)[:120]]
            for k, v in peers.items()
        ]
        out += [
            "## peers (PostgreSQL, bench venv)",
            _table(["peer", "ops/s", "p50 ms", "p99 ms", "version / note"], rows),
            "",
        ]
    rows = [
        [
            t["db"],
            t["target"],
            _fmt(t["measured"]),
            t["goal"],
            {True: "met", False: "MISSED", None: "n/a"}[t["met"]],
            t["note"][:100],
        ]
        for t in payload["targets"]
    ]
    out += [
        "## targets (issue 7, item 5)",
        _table(["db", "target", "measured", "goal", "", "note"], rows),
    ]
    return "\n".join(out)
