"""`python -m vlm_engine.media FILE`: print one JSON summary of a file, or a typed error.

The file is parsed in an isolated child process (time and memory limits), so a hostile file can neither
hang nor crash this command. Exit status: 0 with the summary, 2 with `{"error": CODE, "detail": ...}`.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from vlm_engine.errors import MediaError
from vlm_engine.media.probe import summarize
from vlm_engine.media.sandbox import run_isolated


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vlm_engine.media", description=__doc__.splitlines()[0])
    parser.add_argument("file", help="a PDF, image or video")
    parser.add_argument("--password", help="password of an encrypted PDF")
    parser.add_argument("--frames", type=int, default=0, help="also sample N video frame timestamps")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds before parsing is abandoned")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        result = run_isolated(summarize, args.file, args.password, args.frames, timeout_s=args.timeout)
    except MediaError as exc:
        print(json.dumps(exc.to_dict()))
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
