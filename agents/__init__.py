"""Faust agents: wire topics and tables to the pure core (streams.core) through the Kafka shell
(streams.kafka). Thin by design; only the CLI's worker command imports them.
"""
