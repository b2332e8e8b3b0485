"""``python -m bench`` (or ``./cabin bench``): every benchmark, one after the other."""

import sys

from bench import bench_core

sys.exit(bench_core.main())
