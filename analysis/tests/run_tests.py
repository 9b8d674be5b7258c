#!/usr/bin/python3
# tags: analysis|tests — desc: runs the analysis unit tests; exit 77 (ctest SKIP) when numpy/matplotlib are missing.
import os
import sys
import unittest

try:
    import matplotlib  # noqa: F401
    import numpy  # noqa: F401
except ImportError as e:
    print("analysis tests skipped: %s (install python3-matplotlib python3-numpy for %s)" % (e, sys.executable))
    sys.exit(77)

here = os.path.dirname(os.path.abspath(__file__))
suite = unittest.defaultTestLoader.discover(here, pattern="test_*.py", top_level_dir=here)
result = unittest.TextTestRunner(verbosity=2).run(suite)
sys.exit(0 if result.wasSuccessful() and not result.skipped else 1)
