"""Sightline's Celery workers: the glue that calls `vlm_engine` and writes the results to the database.

`ingest` (CPU) probes uploads and renders page images in a sandboxed child process; `infer` (GPU) runs the
engine on a job; `sweeper` re-queues work whose worker died. Start with `celery -A workers.app worker`.
"""
