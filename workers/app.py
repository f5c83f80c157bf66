"""The one Celery app: queues `ingest` and `infer`, late acks, prefetch 1, and the sweeper's schedule.

Built from `service.broker.celery_config` (shared with the API's producer, so both agree on routes and
delivery). Run one worker per queue kind:

    celery -A workers.app worker -Q ingest --concurrency 2      # CPU: parsing, rendering
    celery -A workers.app worker -Q infer --pool solo           # GPU: one model per process
    celery -A workers.app beat                                  # the periodic sweeper
"""

from __future__ import annotations

from celery import signals

from service.broker import INGEST_QUEUE, SWEEP_TASK, make_celery
from service.logs import configure_logging
from service.settings import get_settings

settings = get_settings()

app = make_celery(settings, "sightline", set_as_current=True)
app.conf.update(
    include=["workers.ingest", "workers.infer", "workers.sweeper"],
    beat_schedule={
        "sweep": {
            "task": SWEEP_TASK,
            "schedule": settings.sweep_interval_s,
            "options": {"queue": INGEST_QUEUE, "expires": settings.sweep_interval_s},
        }
    },
)


@signals.setup_logging.connect
def _setup_logging(**_kwargs: object) -> None:
    configure_logging(settings.log_level)
