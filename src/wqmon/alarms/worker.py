"""`python -m wqmon.alarms.worker`: the alarm engine fed over stdin by `wqmon ingest`.

Frames: a 4-byte big-endian length, then the payload. The first frame is the parent's settings
(JSON); every later one is a msgpack list of reading tuples that the parent committed. The
worker ends when stdin closes: after evaluating what it received, it drains the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys

from wqmon.alarms.frames import decode_readings
from wqmon.alarms.process import FRAME
from wqmon.alarms.service import start_engine
from wqmon.settings import Settings

log = logging.getLogger("wqmon.alarms.worker")


async def _read_frame(reader: asyncio.StreamReader) -> bytes | None:
    try:
        (length,) = FRAME.unpack(await reader.readexactly(FRAME.size))
        return await reader.readexactly(length)
    except asyncio.IncompleteReadError:
        return None  # stdin closed: the parent stopped us, or died


async def _stdin() -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**26)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer)
    return reader


async def serve() -> None:
    reader = await _stdin()
    first = await _read_frame(reader)
    if first is None:
        return
    settings = Settings(**json.loads(first))
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    engine, tasks = await start_engine(settings)
    try:
        while (frame := await _read_frame(reader)) is not None:
            # Waiting for room stops reading stdin: the parent's bounded queue then fills and
            # drops and counts where its metrics see it (dropping here would be invisible).
            await engine.submit(decode_readings(frame))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(engine.drain(), 10)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await engine.close()


def main() -> int:
    # A terminal's Ctrl-C signals the whole process group: the parent stops this worker by
    # closing its stdin after the last commit, so SIGINT here would only print a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    asyncio.run(serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
