"""Queries, one module per resource, so that routes and tasks hold no SQL.

Functions take a `Session` and flush or commit as their docstring says; callers that send broker messages
do so only after the commit (see `service.dispatch`).
"""
