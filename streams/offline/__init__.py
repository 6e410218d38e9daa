"""Offline tools: the simulator, replay and backfill of files or topic ranges, offline engine runs,
evaluation and its report, the demo, and the worker processes they drive. They may import
everything in streams (core, kafka, contracts, settings); nothing in streams imports them but the CLI.
"""
