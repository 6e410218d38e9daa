"""The embedded broker answers a fetch only when the fetch's wait ends, even when records arrive
meanwhile (streams/kafka/compat.py, quirk 4; bench/fetch_wait.py measures it): with Faust's fixed
1,500 ms a live record waited up to 1.2 s before the worker saw it."""

from streams.kafka import compat
from streams.kafka.app import create_app


async def test_the_worker_consumer_started_on_the_embedded_broker_asks_for_records_at_least_ten_times_a_second(settings_for):
    app = create_app(settings_for()).app
    consumer = app.consumer._thread._create_worker_consumer(app.transport)
    try:
        assert consumer._fetch_max_wait_ms == compat.FETCH_MAX_WAIT_MS <= 100
        await consumer.start()  # where the consumer hands the wait to the fetcher that sends the requests
        assert consumer._fetcher._fetch_max_wait_ms == compat.FETCH_MAX_WAIT_MS
    finally:
        await consumer.stop()
