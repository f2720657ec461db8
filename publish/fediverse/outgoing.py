"""Activities the service sends in answer (the Accept of a Follow), from a queue worked by
one thread: the inbox answers at once, and a slow or dead follower's server holds up only
that thread, for at most the fetcher's timeout per request. A full queue drops the answer
(the Follow is stored either way; its server will show it pending until it asks again)."""

from __future__ import annotations

import logging
import queue
import threading

from publish.fediverse.inbox import Delivery
from publish.fediverse.remote import Fetcher, RemoteError

QUEUE_SIZE = 200

log = logging.getLogger(__name__)


class Outbox:
    """A bounded queue of deliveries and the daemon thread that posts them, signed."""

    def __init__(self, fetcher: Fetcher, size: int = QUEUE_SIZE):
        self.fetcher = fetcher
        self.waiting: queue.Queue[Delivery | None] = queue.Queue(size)
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()

    def submit(self, delivery: Delivery) -> bool:
        """Queue a delivery; False when the queue is full."""
        with self.lock:
            if self.thread is None:
                self.thread = threading.Thread(target=self.work, name="fediverse", daemon=True)
                self.thread.start()
        try:
            self.waiting.put_nowait(delivery)
        except queue.Full:
            log.warning("the fediverse queue is full; an Accept was not sent")
            return False
        return True

    def work(self) -> None:
        """Post each queued delivery in turn; a failure is logged (without its body)."""
        while (delivery := self.waiting.get()) is not None:
            try:
                status = self.fetcher.post_json(delivery.inbox, delivery.activity)
            except RemoteError as exc:
                log.warning("an Accept to %s was not delivered: %s", delivery.inbox[:200], exc)
            else:
                if status >= 300:
                    log.warning("an Accept to %s was refused (%s)", delivery.inbox[:200], status)
            finally:
                self.waiting.task_done()

    def close(self, timeout: float = 5.0) -> None:
        """Let the worker finish what is queued, then stop it."""
        if self.thread is not None:
            self.waiting.put(None)
            self.thread.join(timeout)
