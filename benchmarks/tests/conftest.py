"""
The benchmark scripts import each other as top-level modules (``from common import ...``, run from
``benchmarks/``): their tests import them the same way.

This folder has no ``__init__.py``: as a package it would be named ``tests``, the name of the package's test suite.
"""

import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1]

if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))
