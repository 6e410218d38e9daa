"""The framework's floor: a faust-streaming agent that only iterates the events of the input
topics (``stream.noack().events()``, nothing else), with the worker's broker settings. Run by
bench/worker_throughput.py on the same pre-loaded topics as the churnguard worker.

    .venv/bin/python bench/bare_faust.py   # settings from CHURNGUARD_* (broker, app id, web port)

GET /count/ answers how many events it has read, and per input partition the offset after the last
one it read (two agents in one group share the partitions; after a rebalance one may read some
records again: the partitions' ends, not the counts, say when both together have read everything).
"""

from __future__ import annotations

import faust

from streams.kafka.app import Worker, group_settings
from streams.settings import Settings

settings = Settings.from_env()
extra = group_settings(settings)
app = faust.App(f"{settings.app_id}-bare", broker=f"kafka://{settings.broker}", store="memory://",
                topic_disable_leader=True, consumer_auto_offset_reset="earliest", web_port=settings.web_port,
                web_host=settings.web_host, web_bind=settings.web_host, datadir=settings.data_dir, **extra)
inputs = app.topic(*settings.input_topics, key_serializer="raw", value_serializer="raw")
read = 0
ends: dict[faust.types.TP, int] = {}


@app.agent(inputs)
async def bare(stream: faust.StreamT) -> None:
    global read
    async for event in stream.noack().events():
        read += 1
        ends[event.message.tp] = event.message.offset + 1


@app.page("/count/")
async def count(web: faust.web.Web, request: faust.web.Request) -> faust.web.Response:
    return web.json({"count": read, "ends": {f"{tp.topic}/{tp.partition}": end for tp, end in ends.items()}})


if __name__ == "__main__":
    Worker(app, loglevel="WARNING", quiet=True).execute_from_commandline()
