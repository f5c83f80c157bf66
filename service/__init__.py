"""Sightline's REST service: uploads, jobs, batches and grounded results, by ID, per tenant.

The API process is light on purpose: it never imports the engine (torch, transformers, `vlm_engine`) or the
workers. It stores uploads, writes rows and publishes task messages by name; the workers do the rest.
"""
