"""The pure core: features, labels, scoring, quality, alert policy, schedule, feedback and the
per-partition engine that ties them together in event time. No I/O: no Kafka, Faust, network,
file or clock access. It imports only the standard library, River, orjson and itself.
"""
