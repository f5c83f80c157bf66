"""A running job's heartbeat: a background thread that keeps its lease, publishes progress, and relays
cancel requests and lease loss to the engine's `cancelled()` check.

Design choices:
- The engine calls `progress(done, total)` and `should_stop()` from its own thread; both only touch memory.
  The heartbeat thread does the database writes: when progress changed (at most once a second, so GET
  shows it promptly) and at least every `interval_s` (to extend the lease).
- `should_stop()` turns true when a cancel was requested, the lease was lost to another worker, or the job
  ran past `max_seconds`; the task tells these apart afterwards by `timed_out`, `lost` and `cancel_requested`.
- A failed write (database briefly away) is logged and retried at the next beat; if the outage outlasts
  the lease, the sweeper re-queues the job and this worker's final write is refused by the token check.
"""

from __future__ import annotations

import logging
import threading
import time
from types import TracebackType

from sqlalchemy.orm import Session, sessionmaker

from workers import leases

log = logging.getLogger(__name__)

PROGRESS_EVERY_S = 1.0


class Heartbeat:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        claim: leases.JobClaim,
        *,
        lease_s: float,
        interval_s: float,
        max_seconds: float,
    ):
        self._sessions = sessions
        self._claim = claim
        self._lease_s = lease_s
        self._interval_s = interval_s
        self._deadline = time.monotonic() + max_seconds
        self._progress = (0, 0)
        self._written = (0, 0)
        self._stop = threading.Event()
        self.cancel_requested = False
        self.lost = False
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{claim.job_id}", daemon=True)

    @property
    def timed_out(self) -> bool:
        return time.monotonic() > self._deadline

    @property
    def last_progress(self) -> tuple[int, int]:
        return self._progress

    def progress(self, done: int, total: int) -> None:
        self._progress = (done, total)

    def should_stop(self) -> bool:
        return self.cancel_requested or self.lost or self.timed_out

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self, _type: type[BaseException] | None, _exc: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        last_beat = time.monotonic()
        while not self._stop.wait(min(PROGRESS_EVERY_S, self._interval_s)):
            if self._progress == self._written and time.monotonic() - last_beat < self._interval_s:
                continue
            if self._beat():
                last_beat = time.monotonic()

    def _beat(self) -> bool:
        done, total = self._progress
        try:
            with self._sessions() as session:
                reply = leases.heartbeat(session, self._claim, self._lease_s, done, total)
        except Exception:
            log.warning("heartbeat of job %s failed; retrying", self._claim.job_id, exc_info=True)
            return False
        self._written = (done, total)
        if reply is None:
            log.warning("job %s: lease lost to another worker; stopping", self._claim.job_id)
            self.lost = True
        elif reply:
            self.cancel_requested = True
        return True
