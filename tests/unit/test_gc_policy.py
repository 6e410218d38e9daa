"""The worker's garbage-collector policy, applied in a fresh interpreter (never in the test process)."""

import subprocess
import sys

import orjson

from streams.gc_policy import YOUNG_THRESHOLD


def test_start_up_heap_is_frozen_and_young_collections_are_rarer():
    script = ("import gc, orjson, faust, river.linear_model\n"
              "from streams import gc_policy\n"
              "before = gc_policy.describe()\n"
              "gc_policy.settle_after_startup()\n"
              "print(orjson.dumps([before, gc_policy.describe(), gc.get_count()[0]]).decode())\n")
    before, after, young = orjson.loads(subprocess.run([sys.executable, "-c", script], check=True,
                                                       capture_output=True).stdout)
    assert before["frozen_objects"] == 0 and before["thresholds"][0] == 700
    # the imported modules' objects are out of every later collection; the older generations keep
    # their thresholds
    assert after["frozen_objects"] > 50_000
    assert after["thresholds"] == [YOUNG_THRESHOLD, *before["thresholds"][1:]]
    assert young < 100  # nothing left young: the collection before the freeze swept it
