"""The results store: one SQLite file, the source of truth. Each finished trial is written once, atomically.

Reading it needs nothing but sqlite3:  sqlite3 results/results.sqlite 'select label, status from trials'
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

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
    error TEXT,
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
CREATE TABLE IF NOT EXISTS suites (
    suite TEXT PRIMARY KEY,
    path TEXT,
    trials TEXT NOT NULL          -- [[key, label], ...]: every trial the suite asks for, finished or not
);
"""

COLUMNS = ("suite", "suite_path", "key", "label", "experiment", "task", "forecaster", "seed", "status", "error", "config",
           "summary", "curve", "events", "node", "wandb_dir", "started", "finished", "seconds")


class ResultsStore:
    FILE = "results.sqlite"

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.path = self.folder / self.FILE

    def _connect(self) -> sqlite3.Connection:
        self.folder.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(SCHEMA)
        have = {r[1] for r in conn.execute("PRAGMA table_info(trials)")}
        if "suite_path" not in have:  # stores written before the column existed
            conn.execute("ALTER TABLE trials ADD COLUMN suite_path TEXT")
        return conn

    def write(self, row: dict) -> bool:
        """Insert one trial in one transaction; False (and nothing written) if it is there already."""
        values = dict(row)
        values.setdefault("finished", time.time())
        for k in ("config", "summary", "curve", "events"):
            if values.get(k) is not None and not isinstance(values[k], str):
                values[k] = json.dumps(values[k])
        conn = self._connect()
        try:
            with conn:
                cur = conn.execute(
                    f"INSERT OR IGNORE INTO trials ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                    [values.get(c) for c in COLUMNS])
                return cur.rowcount == 1
        finally:
            conn.close()

    def register_suite(self, suite: str, path: str, trials: list[tuple[str, str]]) -> None:
        """Record which trials a suite asks for, so a report can name what is missing."""
        conn = self._connect()
        try:
            with conn:
                conn.execute("INSERT OR REPLACE INTO suites (suite, path, trials) VALUES (?, ?, ?)",
                             (suite, path, json.dumps(trials)))
        finally:
            conn.close()

    def expected(self, suite: str) -> list[tuple[str, str]] | None:
        if not self.path.exists():
            return None
        conn = self._connect()
        try:
            got = conn.execute("SELECT trials FROM suites WHERE suite = ?", (suite,)).fetchone()
            return [tuple(t) for t in json.loads(got[0])] if got else None
        finally:
            conn.close()

    def keys(self, suite: str) -> set[str]:
        if not self.path.exists():
            return set()
        conn = self._connect()
        try:
            return {k for (k,) in conn.execute("SELECT key FROM trials WHERE suite = ?", (suite,))}
        finally:
            conn.close()

    def rows(self, suite: str | None = None) -> list[dict]:
        if not self.path.exists():
            return []
        conn = self._connect()
        conn.row_factory = sqlite3.Row
        try:
            query = "SELECT * FROM trials" + (" WHERE suite = ?" if suite else "") + " ORDER BY suite, experiment, label"
            out = []
            for r in conn.execute(query, (suite,) if suite else ()):
                d = dict(r)
                for k in ("config", "summary", "curve", "events"):
                    d[k] = json.loads(d[k]) if d[k] else None
                out.append(d)
            return out
        finally:
            conn.close()

    def suites(self) -> list[str]:
        if not self.path.exists():
            return []
        conn = self._connect()
        try:
            return [s for (s,) in conn.execute("SELECT DISTINCT suite FROM trials ORDER BY suite")]
        finally:
            conn.close()
