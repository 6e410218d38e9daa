"""The core's modules compiled to C extensions with mypyc (pyproject.toml has the rest).

mypyc turns the typed, pure modules below into C: the same source, the same results (the golden
backfill and every test run against the compiled modules), faster (the figures: docs/architecture.md,
"Compiled core"). Every
annotation becomes a check at run time there: a float where an ``int`` is declared raises, so
values from outside (JSON documents) are made their declared type where they enter. Editable
installs build the extensions in place (``make`` rebuilds them when these sources change; the test
suite refuses to run on extensions older than their source).
"""

from mypyc.build import mypycify
from setuptools import setup

# All of streams/core but the modules whose classes the model's pickle holds (scoring, learners,
# quality): a compiled class has no __dict__, and pickles of earlier releases must load. The return
# table (rhythm), also in the pickle, is compiled as a plain Python class (mypyc_attr).
# Each module's imports of others are taken as untyped (--follow-imports=skip): the other modules
# stay plain Python, and a type error outside this list does not stop the build.
COMPILED = [
    "streams/core/alerts.py",
    "streams/core/catalog.py",
    "streams/core/counters.py",
    "streams/core/dedupe.py",
    "streams/core/engine.py",
    "streams/core/erasure.py",
    "streams/core/events.py",
    "streams/core/features.py",
    "streams/core/feedback.py",
    "streams/core/idleness.py",
    "streams/core/journal.py",
    "streams/core/labels.py",
    "streams/core/learning.py",
    "streams/core/learning_math.py",
    "streams/core/peers.py",
    "streams/core/reorder.py",
    "streams/core/rhythm.py",
    "streams/core/schedule.py",
    "streams/core/snapshots.py",
    "streams/core/start.py",
    "streams/core/watermark.py",
]

# One shared library for all of them (streams/core/native__mypyc.*.so), inside the package.
setup(ext_modules=mypycify(["--ignore-missing-imports", "--follow-imports=skip", *COMPILED], opt_level="3",
                           group_name="streams.core.native"))
