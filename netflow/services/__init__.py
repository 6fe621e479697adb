"""The use cases: what the `netflow` command and the DAG tasks call. One module per use case.

    daily      check, record (a shard), build, send, summary; remind (all of them, the CLI)
    imports    import files or a folder, the inbox (the import DAG), load the care teams
    reports    the weekly report, the data steward's digest
    outbox     list the outbox, requeue failed messages (`netflow outbox`)
    database   upgrade and back up the patient database (`netflow db`)
    scan       evaluate the patient database on a date (`netflow scan`)
    worklist   the questions the worklist pages ask

Each takes an `netflow.installation.Installation` and plain values and returns a result with
`.as_counts()` (counts and team keys: safe for logs, XCom and the `runs` table) or domain values.
No use case sees an engine, a connection or a row: SQL lives in `netflow.adapters`.
"""

__all__: list[str] = []
