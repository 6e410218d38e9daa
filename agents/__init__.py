"""Faust agents: wire topics and tables to the pure core in streams/."""
