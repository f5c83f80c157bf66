"""Sightline's model side: media, geometry, vision, models and the agent.

A pure library: it knows nothing of HTTP, SQL or Celery (an import-linter style test keeps that true).
"""
