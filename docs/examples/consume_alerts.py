"""A downstream consumer of churnguard alerts (kafka-python), de-duplicating by alert_id.

    python docs/examples/consume_alerts.py --broker localhost:9092 --group outreach-service
"""

from __future__ import annotations

import argparse
import json
from collections import OrderedDict
from typing import Callable

from kafka import KafkaConsumer

SUPPORTED = {"outreach_alert.v1"}


def consume(broker: str, group: str, handle: Callable[[dict], None], topic: str = "churnguard.outreach_alerts.v1",
            idle_timeout_ms: int | None = None, max_alerts: int | None = None, remember: int = 100_000) -> int:
    """Call ``handle`` once per alert. Delivery is at-least-once, so remember recent alert ids
    (a durable store in production) and skip repeats. Commit only after handling."""
    consumer = KafkaConsumer(topic, bootstrap_servers=broker, group_id=group, enable_auto_commit=False,
                             auto_offset_reset="earliest", consumer_timeout_ms=idle_timeout_ms or float("inf"))
    seen: OrderedDict[str, None] = OrderedDict()
    handled = 0
    try:
        for record in consumer:
            alert = json.loads(record.value)
            if alert.get("schema") in SUPPORTED and alert["alert_id"] not in seen:
                handle(alert)  # unknown fields are ignored: v1 may gain optional fields
                handled += 1
                seen[alert["alert_id"]] = None
                if len(seen) > remember:
                    seen.popitem(last=False)
            consumer.commit()
            if max_alerts is not None and handled >= max_alerts:
                break
    finally:
        consumer.close()
    return handled


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--broker", required=True)
    ap.add_argument("--group", default="outreach-service")
    args = ap.parse_args()
    consume(args.broker, args.group, lambda a: print(a["user_id"], a["tier"], a["action"]["kind"], a["priority"]))
