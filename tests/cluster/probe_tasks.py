"""Tasks for the broker tests only (a worker loads them with --include): one that holds its slot until killed, one
that marks a file. `python -m tests.cluster.probe_tasks hold|mark PATH [COUNTDOWN]` publishes one through the
project's Celery app, so the queues are declared exactly as settings declare them."""

import sys
import time
from pathlib import Path

from nebengjek.celery import app

HOLD_SECONDS = 120


@app.task(name="tests.cluster.hold", bind=True)
def hold(self, path: str) -> None:
    """Append this delivery to `path`; the first delivery then holds its worker (to be killed meanwhile)."""
    redelivered = bool((self.request.delivery_info or {}).get("redelivered"))
    with open(path, "a") as log:
        log.write(f"run redelivered={redelivered}\n")
    if len(Path(path).read_text().splitlines()) == 1:
        time.sleep(HOLD_SECONDS)


@app.task(name="tests.cluster.mark")
def mark(path: str) -> None:
    Path(path).write_text(f"{time.time()}\n")


def main(argv: list[str]) -> None:
    task = {"hold": hold, "mark": mark}[argv[0]]
    countdown = float(argv[2]) if len(argv) > 2 else None
    task.apply_async(args=(argv[1],), countdown=countdown)


if __name__ == "__main__":
    import django

    django.setup()
    main(sys.argv[1:])
