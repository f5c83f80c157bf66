"""The Celery configuration, and the producer the API uses to send task messages by name.

Design choices:
- `celery_config` is the one description of queues, routes and delivery guarantees; the worker app
  (`workers.app`) is built from it, and so is the API's producer. The API publishes by task *name*, so it
  never imports the workers (which import the engine).
- Messages carry IDs only. Tasks are acknowledged late and prefetched one at a time; Redis's visibility
  timeout outlasts the longest job (checked in settings). Redis priorities run 0 (first) to 9, the reverse
  of the API's 0 (lowest) to 9 (most urgent), so `send_infer` flips them.
- With `filesystem://` (the embedded default) messages are files in `settings.broker_dir`; no server.
- Sending never raises into a request that has already committed: a failed send is logged, and the job,
  still marked unsent in its row, is sent by the sweeper.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from kombu.exceptions import ChannelError

from service.settings import Settings

log = logging.getLogger(__name__)

INGEST_QUEUE = "ingest"
INFER_QUEUE = "infer"
QUEUES = (INGEST_QUEUE, INFER_QUEUE)
INGEST_TASK = "workers.ingest.ingest_document"
INFER_TASK = "workers.infer.run_job"
SWEEP_TASK = "workers.sweeper.sweep"


def celery_config(settings: Settings) -> dict[str, Any]:
    transport: dict[str, Any] = {}
    if settings.broker_url.startswith("filesystem"):
        folder = settings.broker_dir.resolve()
        for sub in ("queue", "processed", "control"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        transport = {
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "processed_folder": str(folder / "processed"),
            "control_folder": str(folder / "control"),
            "polling_interval": 0.2,
        }
    elif settings.broker_url.startswith(("redis", "rediss")):
        transport = {
            "visibility_timeout": settings.visibility_timeout_s,
            "queue_order_strategy": "priority",
            "priority_steps": list(range(10)),
            "socket_connect_timeout": 5,
        }
        if settings.broker_key_prefix:
            transport["global_keyprefix"] = settings.broker_key_prefix
    return {
        "broker_url": settings.broker_url,
        "broker_transport_options": transport,
        "broker_connection_retry_on_startup": True,
        "task_default_queue": INGEST_QUEUE,
        "task_routes": {
            INGEST_TASK: {"queue": INGEST_QUEUE},
            SWEEP_TASK: {"queue": INGEST_QUEUE},
            INFER_TASK: {"queue": INFER_QUEUE},
        },
        "task_acks_late": True,
        "worker_prefetch_multiplier": 1,
        "task_ignore_result": True,
        "task_serializer": "json",
        "accept_content": ["json"],
        "worker_hijack_root_logger": False,
        "worker_send_task_events": False,
    }


def make_celery(settings: Settings, name: str, *, set_as_current: bool) -> Celery:
    app = Celery(name, set_as_current=set_as_current)
    app.conf.update(celery_config(settings))
    return app


class Broker:
    """Sends task messages by name through a Celery app (the API's producer or the worker app itself)."""

    def __init__(self, app: Celery):
        self.app = app

    def send_ingest(self, document_id: str) -> bool:
        return self._send(INGEST_TASK, document_id, INGEST_QUEUE, priority=0)

    def send_infer(self, job_id: str, priority: int) -> bool:
        return self._send(INFER_TASK, job_id, INFER_QUEUE, priority=9 - priority)

    def _send(self, task: str, object_id: str, queue: str, priority: int) -> bool:
        try:
            self.app.send_task(
                task,
                args=[object_id],
                queue=queue,
                priority=priority,
                retry=True,
                retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
            )
        except Exception:
            log.warning("could not send %s(%s); the sweeper will send it", task, object_id, exc_info=True)
            return False
        return True

    def queue_depths(self) -> dict[str, int]:
        """Messages waiting per queue; raises if the broker is unreachable."""
        depths = {}
        with self.app.connection_for_read() as conn:
            conn.ensure_connection(max_retries=1)
            channel = conn.default_channel
            for queue in QUEUES:
                try:
                    depths[queue] = channel.queue_declare(queue=queue, passive=True).message_count
                except ChannelError:  # never declared yet: nothing waiting
                    depths[queue] = 0
        return depths
