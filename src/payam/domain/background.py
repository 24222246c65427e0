"""What every background loop of the server keeps to: a cancel ends it, whatever it was doing.

A loop that runs a job again and again (the retention job, the push queue, the timers) catches
``Exception`` so that one failed round does not end it. ``task.cancel()`` raises
``CancelledError``, not an ``Exception``, so it goes through, but only when nothing on the way
turns it into something else: SQLAlchemy invalidates a connection whose statement was
cancelled, and the cleanup that follows (a rollback, a look at the connection) can then raise
its own error in place of the cancel. The loop would log it as a failed round and go on, and
``stop()``, awaiting the cancelled task, would wait for ever (seen in the test suite, on
PostgreSQL). Each such ``except`` asks here whether its task is being cancelled.
"""

from __future__ import annotations

import asyncio


def raise_if_cancelling() -> None:
    """Inside ``except Exception`` of a background loop: end the task if a cancel was asked of
    it, even when the exception being handled is not the ``CancelledError`` itself."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
