"""One write path: every write runs inside `Store.transaction()` (the write lock); a write outside it is refused."""

from __future__ import annotations

import threading
import time

import pandas as pd
import pytest

from curation.store import Store, jobs_table
from curation.store.core import WriteOutsideTransactionError, is_write


def test_two_threads_updating_the_same_job_row_both_survive(store: Store) -> None:
    job = jobs_table.create(store, "test")
    errors: list[str] = []
    a_holds, b_starts = threading.Event(), threading.Event()

    def job_thread() -> None:  # a job writing progress inside a longer write of its own
        try:
            with store.transaction():
                jobs_table.set_progress(store, job, 0.5, "half way")
                a_holds.set()
                b_starts.wait(10)
                time.sleep(0.1)  # give the other thread its chance to write (it must wait for this transaction)
                jobs_table.set_progress(store, job, 0.75, "three quarters")
        except Exception as err:
            errors.append(f"job thread: {err!r}")

    def page_thread() -> None:  # the page: cancel, and a message of its own on the same row
        a_holds.wait(10)
        b_starts.set()
        try:
            assert jobs_table.request_cancel(store, job)
            jobs_table.set_progress(store, job, 0.8, "cancelling")
        except Exception as err:
            errors.append(f"page thread: {err!r}")

    threads = [threading.Thread(target=job_thread), threading.Thread(target=page_thread)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    row = jobs_table.get(store, job)
    assert row["cancel_requested"] is True and (row["progress"], row["message"]) == (0.8, "cancelling")


def test_query_verbs_refuse_writes(store: Store) -> None:
    jobs_table.create(store, "test")
    for verb in (store.query_df, store.query_rows, store.query_value, store.query_dicts):
        with pytest.raises(WriteOutsideTransactionError, match="query verbs only read"):
            verb("UPDATE jobs SET progress = 1")
    assert store.query_value("SELECT progress FROM jobs") == 0


def test_a_registered_frame_cursor_writes_only_inside_a_transaction(store: Store) -> None:
    frame = pd.DataFrame({"kind": ["a"]})
    with store.registered("_frame", frame) as cur, pytest.raises(WriteOutsideTransactionError, match="write outside"):
        cur.execute("INSERT INTO jobs (id, kind) SELECT 99, kind FROM _frame")
    with store.transaction(), store.registered("_frame", frame) as cur:
        cur.execute("INSERT INTO jobs (id, kind) SELECT 99, kind FROM _frame").fetchall()
    assert store.query_value("SELECT kind FROM jobs WHERE id = 99") == "a"


@pytest.mark.parametrize(
    ("sql", "writes"),
    [
        ("SELECT 1", False),
        ("  select * from jobs where status = 'updated'", False),
        ("WITH x AS (SELECT 1) SELECT * FROM x", False),
        ("INSERT INTO jobs VALUES (1)", True),
        ("\n update jobs set progress = 1", True),
        ("WITH x AS (SELECT 1 AS id) DELETE FROM jobs WHERE id IN (SELECT id FROM x)", True),
        ("CREATE TABLE t (a INT)", True),
    ],
)
def test_write_statements_are_recognised(sql: str, writes: bool) -> None:
    assert is_write(sql) is writes
