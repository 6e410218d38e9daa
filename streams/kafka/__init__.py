"""The worker's Kafka shell: the Faust app and its tables, codecs, topic administration, the
producer, metrics, the embedded broker and its compatibility code. It may import the core, the
contracts and the settings, never streams.offline or the agents.
"""
