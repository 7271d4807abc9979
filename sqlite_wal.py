"""SQLite: checkpoint the write-ahead log after a response is sent, not inside a request's commit.

In WAL mode SQLite appends every commit to the log and copies the log back into the database (a
checkpoint) in the commit that takes it past `wal_autocheckpoint` pages: by default one write request in
some fifty also copies a thousand pages, and the commits' average cost is mostly that copy. SQLite's
documentation offers the alternative this module takes: run the checkpoints at other moments.

- The app's connections checkpoint by themselves only past SAFETY_PAGES pages, a safety net (a burst of
  writes outside requests, a checkpoint that failed).
- Every `SQLITE_CHECKPOINT_EVERY` commits of the process (25 by default), the next response runs a
  passive checkpoint after it has been sent (``Response.call_on_close``): the worker does it while the
  client reads the answer. A passive checkpoint never waits for a lock; what readers still need stays in
  the log for the next one.

``SQLITE_CHECKPOINT_EVERY = 0`` leaves SQLite's own schedule. PostgreSQL and in-memory databases are not
concerned.
"""
import logging
import sqlite3

from sqlalchemy import event

log = logging.getLogger("iom")

SAFETY_PAGES = 4000
CHECKPOINT = "PRAGMA wal_checkpoint(PASSIVE)"


class WalCheckpointer:
    """Counts an engine's commits and checkpoints its database after the response that passes `every`."""

    def __init__(self, engine, every):
        self.engine, self.every = engine, every
        self.commits = 0  # since the last checkpoint was asked for (approximate under threads: harmless)
        self.runs = 0

    def note_commit(self, connection):
        self.commits += 1

    def after_request(self, response):
        if self.commits >= self.every:
            self.commits = 0
            response.call_on_close(self.checkpoint)
        return response

    def checkpoint(self):
        """Run a passive checkpoint on a pooled connection; return (busy, log pages, pages checkpointed)."""
        self.runs += 1
        raw = self.engine.raw_connection()
        try:
            return tuple(raw.driver_connection.execute(CHECKPOINT).fetchone())
        except sqlite3.Error as exc:  # the response is sent: report, never raise into the server
            log.warning("WAL checkpoint failed (SQLite checkpoints by itself past %s pages): %s",
                        SAFETY_PAGES, exc)
            return None
        finally:
            raw.close()


def init_app(app, engine):
    """Install the checkpointer for a file SQLite database; return it (None when not installed)."""
    every = int(app.config.get("SQLITE_CHECKPOINT_EVERY") or 0)
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:") or every <= 0:
        return None
    checkpointer = WalCheckpointer(engine, every)

    @event.listens_for(engine, "connect")
    def _safety_net(dbapi_connection, connection_record):
        dbapi_connection.execute(f"PRAGMA wal_autocheckpoint={SAFETY_PAGES}")

    event.listen(engine, "commit", checkpointer.note_commit)
    app.after_request(checkpointer.after_request)
    app.extensions["iom_wal_checkpointer"] = checkpointer
    return checkpointer
