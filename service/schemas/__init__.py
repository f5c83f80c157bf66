"""Pydantic request and response bodies, one module per resource; their examples feed the OpenAPI document."""
