"""Prometheus metrics computed at scrape time from the database and the broker.

Design choices:
- Postgres is the source of truth, so the numbers come from it: every API replica reports the same values,
  and no worker needs a metrics endpoint or a shared multiprocess directory. Counters and the latency
  histogram are sums over finished jobs, which only grow, as Prometheus expects.
- Queue depth is asked of the broker; if it is unreachable that family is left out (and /readyz fails).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from service.crud import stats
from service.db.models import JobStatus
from service.runtime import Runtime

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)


class SightlineCollector(Collector):
    def __init__(self, runtime: Runtime):
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        with self.runtime.sessions() as session:
            by_status = stats.jobs_by_status(session)
            cumulative, count, total = stats.latency_histogram(session, LATENCY_BUCKETS)
            pages, frames = stats.units_processed(session)
            ingested = stats.pages_ingested(session)
        jobs = GaugeMetricFamily("sightline_jobs", "Jobs by status", labels=["status"])
        for status in JobStatus:
            jobs.add_metric([status.value], by_status.get(status.value, 0))
        yield jobs
        yield HistogramMetricFamily(
            "sightline_job_latency_seconds",
            "Seconds from a job's creation to its final status (jobs finished by a worker)",
            buckets=[(floatToGoString(b), n) for b, n in zip(LATENCY_BUCKETS, cumulative, strict=True)]
            + [("+Inf", count)],
            sum_value=total,
        )
        yield CounterMetricFamily(
            "sightline_pages_processed", "Pages looked at by finished jobs", value=pages
        )
        yield CounterMetricFamily(
            "sightline_frames_processed", "Video frames looked at by finished jobs", value=frames
        )
        yield CounterMetricFamily("sightline_pages_ingested", "Pages of ready documents", value=ingested)
        try:
            depths = self.runtime.broker.queue_depths()
        except Exception:
            log.warning("queue depth unavailable: the broker is unreachable", exc_info=True)
            return
        depth = GaugeMetricFamily("sightline_queue_depth", "Messages waiting per queue", labels=["queue"])
        for queue, n in depths.items():
            depth.add_metric([queue], n)
        yield depth


def make_registry(runtime: Runtime) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SightlineCollector(runtime))
    return registry
