"""The results store: one SQLite file, the source of truth. Each finished trial is written once, atomically.

Reading it needs nothing but sqlite3:  sqlite3 results/results.sqlite 'select label, status from trials'
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path

from .scoring import whole_trial_seconds

SCHEMA = """
CREATE TABLE IF NOT EXISTS trials (
    suite TEXT NOT NULL,
    suite_path TEXT,              -- the suite file, so a report can tell which trials are missing
    key TEXT NOT NULL,            -- RunConfig.key(): a hash of everything that changes the result, seed included
    label TEXT NOT NULL,
    experiment INTEGER NOT NULL,
    task TEXT NOT NULL,
    forecaster TEXT NOT NULL,
    seed INTEGER NOT NULL,
    status TEXT NOT NULL,         -- finished | diverged | failed
    error TEXT,                   -- a failed trial's whole error: "Type: message", then the traceback
    config TEXT NOT NULL,         -- the RunConfig, JSON
    summary TEXT,                 -- the run's summary, JSON
    curve TEXT,                   -- [{step, accuracy, loss, phase, seconds}], JSON
    events TEXT,                  -- jump events, JSON
    node TEXT,                    -- the Ray node that ran it
    wandb_dir TEXT,
    started REAL,
    finished REAL NOT NULL,
    seconds REAL,
    PRIMARY KEY (suite, key)
);
CREATE TABLE IF NOT EXISTS running (
    suite TEXT NOT NULL,
    key TEXT NOT NULL,
    label TEXT NOT NULL,
    step INTEGER NOT NULL,        -- the last evaluation's step the driver heard of
    steps INTEGER,                -- the trial's budget
    accuracy REAL,
    started REAL NOT NULL,
    updated REAL NOT NULL,
    driver TEXT NOT NULL,         -- "host:pid" of the `suite run` that runs it
    first INTEGER,                -- the first step this run reported, and when: a resumed or forked trial
    first_at REAL,                -- starts far past 0, so its pace counts only the steps it trained here
    PRIMARY KEY (suite, key)
);
CREATE TABLE IF NOT EXISTS suites (
    suite TEXT PRIMARY KEY,
    path TEXT,
    trials TEXT NOT NULL          -- [[key, label, experiment, role], ...]: every trial the suite asks for
);
"""

# the columns SCHEMA gained after stores were made with it (CREATE TABLE IF NOT EXISTS leaves those as they were)
ADDED_COLUMNS = (("trials", "suite_path", "TEXT"), ("running", "first", "INTEGER"), ("running", "first_at", "REAL"))

# trials `suite run --redo` ran again: each row as it was (the trials table's columns), when it was set aside and
# why; never scored. Made by the first redo of a store, not by merely opening it: reading a committed store (a
# report) leaves its file as it was
REPLACED = ("CREATE TABLE IF NOT EXISTS replaced AS SELECT *, 0.0 AS replaced, '' AS reason FROM trials WHERE 0")

COLUMNS = ("suite", "suite_path", "key", "label", "experiment", "task", "forecaster", "seed", "status", "error", "config",
           "summary", "curve", "events", "node", "wandb_dir", "started", "finished", "seconds")


def unfinished(statuses: dict[str, tuple[str, str]], trials) -> list:
    """The trials still to run given a suite's ``statuses``: not stored yet, or stored as failed (a resumed
    suite reruns those)."""
    return [t for t in trials if statuses.get(t.key, ("failed",))[0] == "failed"]


def _decoded(row: sqlite3.Row) -> dict:
    """A stored trial as a dict, its JSON columns read back."""
    d = dict(row)
    for k in ("config", "summary", "curve", "events"):
        d[k] = json.loads(d[k]) if d[k] else None
    return d


# a stored trial's platform (environment.platform_of), read by SQLite without decoding the whole summary
PLATFORM = "json_extract(summary, '$.platform')"


def _platform(text: str | None) -> dict | None:
    return json.loads(text) if text else None


# what a whole trial's time is read from: a resumed (or forked) trial's stored seconds add the time its steps
# before the checkpoint took, often on another machine than the one its platform names
TIMING = ("seconds, json_extract(summary, '$.resumed_from'), json_extract(summary, '$.seconds_before_resume'), "
          "COALESCE(json_extract(summary, '$.stopped_at'), json_extract(summary, '$.steps'))")


def driver_id() -> str:
    """This process as the driver of a suite run: 'host:pid'."""
    return f"{socket.gethostname()}:{os.getpid()}"


MARK_RUNNING = ("INSERT OR REPLACE INTO running (suite, key, label, step, steps, accuracy, started, updated, driver) "
                "VALUES (?, ?, ?, 0, ?, NULL, ?, ?, ?)")
STALE_SECONDS = 3600  # a trial on another host's driver that has not been heard of for this long is taken as lost


def driver_alive(driver: str, updated: float, now: float | None = None) -> bool:
    """Is the suite run that marked a trial running still there? On this host: its process is alive; on
    another (whose processes cannot be seen from here): it reported within STALE_SECONDS."""
    host, _, pid = driver.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return (now or time.time()) - updated < STALE_SECONDS
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


class ResultsStore:
    FILE = "results.sqlite"

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.path = self.folder / self.FILE
        self._ready = False

    @contextmanager
    def _db(self, row_factory=None):
        """One connection for one operation; the schema is made (or brought up to date) once per store."""
        self.folder.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30)
        conn.row_factory = row_factory
        try:
            if not self._ready:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(SCHEMA)
                for table, column, kind in ADDED_COLUMNS:  # stores made before the column
                    if column not in {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}:
                        conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
                self._ready = True
            yield conn
        finally:
            conn.close()

    def write(self, row: dict) -> bool:
        """Insert one trial in one transaction; False (and nothing written) if it is there already. A failed
        trial is the one exception: a later attempt of it replaces it."""
        values = dict(row)
        values.setdefault("finished", time.time())
        for k in ("config", "summary", "curve", "events"):
            if values.get(k) is not None and not isinstance(values[k], str):
                values[k] = json.dumps(values[k])
        with self._db() as conn, conn:
            conn.execute("DELETE FROM trials WHERE suite = ? AND key = ? AND status = 'failed'",
                         (values["suite"], values["key"]))
            # no longer running: in the same transaction, so a reader always finds it in one table or the other
            conn.execute("DELETE FROM running WHERE suite = ? AND key = ?", (values["suite"], values["key"]))
            cur = conn.execute(
                f"INSERT OR IGNORE INTO trials ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                [values.get(c) for c in COLUMNS])
            return cur.rowcount == 1

    def set_aside(self, suite: str, keys, reason: str) -> int:
        """Move trials that ran to their end (finished or diverged) into the ``replaced`` table, in one transaction,
        so that they run again as missing ones do (`suite run --redo`) and their old results are kept. Returns how
        many were moved."""
        keys = list(keys)
        columns = ", ".join(COLUMNS)
        moved = 0
        with self._db() as conn, conn:
            conn.execute(REPLACED)
            for i in range(0, len(keys), 500):  # SQLite's limit on bound values
                part = keys[i:i + 500]
                where = f"suite = ? AND status != 'failed' AND key IN ({', '.join('?' * len(part))})"
                conn.execute(f"INSERT INTO replaced ({columns}, replaced, reason) SELECT {columns}, ?, ? FROM trials "
                             f"WHERE {where}", [time.time(), reason, suite, *part])
                moved += conn.execute(f"DELETE FROM trials WHERE {where}", [suite, *part]).rowcount
        return moved

    def replaced(self, suite: str) -> list[dict]:
        """The rows `suite run --redo` set aside for a suite, oldest first, with when (``replaced``) and why."""
        if not self.path.exists():
            return []
        with self._db(sqlite3.Row) as conn:
            if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'replaced'").fetchone():
                return []
            return [_decoded(r) for r in conn.execute("SELECT * FROM replaced WHERE suite = ? ORDER BY replaced, key",
                                                       (suite,))]

    def start_trial(self, suite: str, key: str, label: str, steps: int | None, driver: str) -> None:
        """Mark a trial as running under ``driver`` (it leaves the table when its result is written)."""
        now = time.time()
        with self._db() as conn, conn:
            conn.execute(MARK_RUNNING, (suite, key, label, steps, now, now, driver))

    def claim(self, suite: str, key: str, label: str, steps: int | None, driver: str) -> str | None:
        """Take a trial for ``driver`` unless it is stored (finished or diverged) or a live other driver runs
        it: None when taken (marked running), else why not ('stored', or the other driver). The check and the
        mark are one write transaction, so two suite runs of one store never both take a trial."""
        now = time.time()
        with self._db() as conn:
            conn.execute("BEGIN IMMEDIATE")  # the write lock first: nobody marks the trial between check and mark
            try:
                if conn.execute("SELECT 1 FROM trials WHERE suite = ? AND key = ? AND status IN ('finished', "
                                "'diverged')", (suite, key)).fetchone():
                    conn.rollback()
                    return "stored"
                other = conn.execute("SELECT driver, updated FROM running WHERE suite = ? AND key = ?",
                                     (suite, key)).fetchone()
                if other and other[0] != driver and driver_alive(*other):
                    conn.rollback()
                    return other[0]
                conn.execute(MARK_RUNNING, (suite, key, label, steps, now, now, driver))
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
        return None

    def progress(self, suite: str, key: str, step: int, accuracy: float | None, trained: bool = True) -> None:
        """A running trial's latest evaluation. The first one it ``trained`` (not one replayed from the checkpoint
        or the fork it resumed from) is kept too, and when: its pace counts only the steps this run trained."""
        now = time.time()
        first, first_at = (step, now) if trained else (None, None)
        with self._db() as conn, conn:
            conn.execute("UPDATE running SET step = ?, accuracy = ?, updated = ?, first = COALESCE(first, ?), "
                         "first_at = COALESCE(first_at, ?) WHERE suite = ? AND key = ?",
                         (step, accuracy, now, first, first_at, suite, key))

    def running(self, suite: str) -> dict[str, dict]:
        """key -> {label, step, steps, accuracy, started, updated, driver, first, first_at} of every trial of a
        suite that a live suite run is running now (a run killed without a word leaves rows behind: they are not
        shown)."""
        if not self.path.exists():
            return {}
        with self._db(sqlite3.Row) as conn:
            rows = [dict(r) for r in conn.execute("SELECT * FROM running WHERE suite = ?", (suite,))]
        return {r["key"]: r for r in rows if driver_alive(r["driver"], r["updated"])}

    def release(self, suite: str, key: str) -> None:
        """Drop one trial's running mark without a result (cut at a time budget: `--resume` takes it again)."""
        with self._db() as conn, conn:
            conn.execute("DELETE FROM running WHERE suite = ? AND key = ?", (suite, key))

    def forget_running(self, driver: str | None = None) -> None:
        """Drop the running marks of ``driver`` (a run ending, its unfinished trials with it), or of every
        driver that is gone."""
        with self._db(sqlite3.Row) as conn, conn:
            rows = conn.execute("SELECT suite, key, driver, updated FROM running").fetchall()
            gone = [(r["suite"], r["key"]) for r in rows
                    if (r["driver"] == driver if driver else not driver_alive(r["driver"], r["updated"]))]
            conn.executemany("DELETE FROM running WHERE suite = ? AND key = ?", gone)

    def resolve(self, suite: str, updates: list[dict]) -> None:
        """Write a resolved target into trials already stored (config, summary, W&B folder), all in one
        transaction: a baseline_max experiment's baselines learn the target their own results fixed."""
        with self._db() as conn, conn:
            for u in updates:
                conn.execute("UPDATE trials SET config = ?, summary = ?, wandb_dir = COALESCE(?, wandb_dir) "
                             "WHERE suite = ? AND key = ?",
                             (json.dumps(u["config"]), json.dumps(u["summary"]), u.get("wandb_dir"), suite, u["key"]))

    def register_suite(self, suite: str, path: str, trials: list[tuple]) -> None:
        """Record which trials a suite asks for (key, label, experiment[, role]), so a report can name what is
        missing and leave out what the suite no longer asks for. Trials a search added (roles "search" and
        "confirm": known only once it ran) are kept."""
        kept = [t for t in (self.expected(suite) or []) if t[3] != "grid"]
        entries = [list(t) + ["grid"] * (4 - len(t)) for t in trials]
        with self._db() as conn, conn:
            conn.execute("INSERT OR REPLACE INTO suites (suite, path, trials) VALUES (?, ?, ?)",
                         (suite, path, json.dumps(entries + [list(t) for t in kept])))

    def add_expected(self, suite: str, entries: list[tuple[str, str, int, str]]) -> None:
        """Add trials a search decided on to the suite's list (a search's samples, the best one's seeds)."""
        with self._db() as conn, conn:
            got = conn.execute("SELECT trials FROM suites WHERE suite = ?", (suite,)).fetchone()
            listed = json.loads(got[0]) if got else []
            have = {t[0] for t in listed}
            listed += [list(e) for e in entries if e[0] not in have]
            conn.execute("UPDATE suites SET trials = ? WHERE suite = ?", (json.dumps(listed), suite))

    def expected(self, suite: str) -> list[tuple[str, str, int | None, str]] | None:
        """(key, label, experiment, role) of every trial the suite asks for; role: grid | search | confirm."""
        if not self.path.exists():
            return None
        with self._db() as conn:
            got = conn.execute("SELECT trials FROM suites WHERE suite = ?", (suite,)).fetchone()
        # stores written before the experiment (then the role) was recorded hold shorter entries
        return [(t[0], t[1], t[2] if len(t) > 2 else None, t[3] if len(t) > 3 else "grid")
                for t in json.loads(got[0])] if got else None

    def statuses(self, suite: str) -> dict[str, tuple[str, str]]:
        """key -> (status, label) of every stored trial of a suite."""
        if not self.path.exists():
            return {}
        with self._db() as conn:
            return {k: (s, l) for k, s, l in conn.execute("SELECT key, status, label FROM trials WHERE suite = ?",
                                                         (suite,))}

    def seconds(self, suite: str) -> dict[str, float]:
        """key -> how long it ran from step 0 (scoring.whole_trial_seconds), for every stored trial of a suite
        that ran to its end (finished or diverged: a failed trial's time says nothing about the next attempt's),
        oldest first."""
        if not self.path.exists():
            return {}
        with self._db() as conn:
            return {k: whole_trial_seconds(*t) for k, *t in conn.execute(
                f"SELECT key, {TIMING} FROM trials WHERE suite = ? AND status != 'failed' AND seconds IS NOT NULL "
                "ORDER BY finished, key", (suite,))}

    def ended(self) -> list[dict]:
        """Every stored row, of any suite, that ran to its end (finished or diverged)."""
        if not self.path.exists():
            return []
        with self._db(sqlite3.Row) as conn:
            return [_decoded(r) for r in conn.execute("SELECT * FROM trials WHERE status != 'failed'")]

    def platforms(self, suite: str) -> dict[str, dict | None]:
        """key -> the platform (environment.platform_of) each stored trial of a suite recorded, None where it
        recorded none."""
        if not self.path.exists():
            return {}
        with self._db() as conn:
            return {k: _platform(p) for k, p in conn.execute(
                f"SELECT key, {PLATFORM} FROM trials WHERE suite = ?", (suite,))}

    def timings(self) -> list[tuple[dict, float, dict | None]]:
        """(run config, seconds from step 0 (scoring.whole_trial_seconds), platform) of every stored trial, of
        any suite, that ran to its end, oldest first."""
        if not self.path.exists():
            return []
        with self._db() as conn:
            return [(json.loads(c), whole_trial_seconds(*t), _platform(p)) for c, p, *t in conn.execute(
                f"SELECT config, {PLATFORM}, {TIMING} FROM trials WHERE status != 'failed' AND seconds IS NOT NULL "
                "ORDER BY finished, key")]

    def keys(self, suite: str) -> set[str]:
        if not self.path.exists():
            return set()
        with self._db() as conn:
            return {k for (k,) in conn.execute("SELECT key FROM trials WHERE suite = ?", (suite,))}

    def rows(self, suite: str | None = None) -> list[dict]:
        if not self.path.exists():
            return []
        query = "SELECT * FROM trials" + (" WHERE suite = ?" if suite else "") + " ORDER BY suite, experiment, label"
        with self._db(sqlite3.Row) as conn:
            return [_decoded(r) for r in conn.execute(query, (suite,) if suite else ())]

    def suites(self) -> list[str]:
        if not self.path.exists():
            return []
        with self._db() as conn:
            return [s for (s,) in conn.execute("SELECT DISTINCT suite FROM trials ORDER BY suite")]


def reusable(store: ResultsStore, todo, sources) -> dict[str, tuple[dict, Path]]:
    """key -> (row, its store's path) of each trial of ``todo`` that a ``sources`` results folder holds under the
    same key, run to its end, or holds a longer run of whose first steps it is (benchmark.truncation; the row
    then cut to the trial's budget): what `suite run --reuse` copies rather than runs (the first source that
    has it). A trial that stops at its target is never among them: a baseline_max target is its own suite's."""
    from .errors import IntrobenchError
    from .truncation import from_longer

    found: dict[str, tuple[dict, Path]] = {}
    for source in sources:
        src = ResultsStore(source)
        if not src.path.exists():
            raise IntrobenchError(f"--reuse: no results store in {source} (it holds no {ResultsStore.FILE})")
        if src.path.resolve() == store.path.resolve():
            raise IntrobenchError(f"--reuse: {source} is this suite's own --results")
        rows = src.ended()
        wanted = {t.key for t in todo if not t.config.stop_at_target} - found.keys()
        for row in rows:  # the same trial in several suites: the first is enough
            if row["key"] in wanted and row["key"] not in found:
                found[row["key"]] = (row, src.path)
        rest = [t for t in todo if t.key not in found and not t.config.stop_at_target]
        if rest:
            found.update({k: (row, src.path) for k, row in from_longer(rows, rest).items()})
    return found
