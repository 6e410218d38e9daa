"""churnguard. The folders show the flow: contracts -> core -> Kafka shell -> tools.

- ``streams.core``: the pure domain core (no I/O);
- ``streams.kafka``: the worker's shell around it (Faust app, tables, broker, producer, metrics);
- ``streams.offline``: tools that feed or judge it (simulator, replay, backfill, evaluation, demo);
- top level: ``settings`` (the one settings object), ``contracts`` (schemas/ compiled),
  ``logs`` (structlog setup) and ``cli`` (the ``churnguard`` command, the only wiring of the agents).
The layers are an import contract checked in CI (``.importlinter``).
"""
