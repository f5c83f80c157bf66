"""One router per resource: documents, jobs, batches, and the operational endpoints."""
