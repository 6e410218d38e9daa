"""A screenshot of a page we render, for the docs: python -m tests.browser PAGE.html OUT.png"""

import sys
from pathlib import Path

from tests.browser import screenshot

if __name__ == "__main__":
    screenshot(Path(sys.argv[1]), Path(sys.argv[2]))
