"""The worker process's runtime (database, blob store, broker), built on first use in each process.

Built lazily, so that each prefork child opens its own database connections after the fork.
"""

from __future__ import annotations

import os
import socket
from functools import lru_cache

from service.runtime import Runtime
from service.settings import get_settings
from workers.app import app


@lru_cache(maxsize=1)
def runtime() -> Runtime:
    return Runtime.build(get_settings(), app)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"
