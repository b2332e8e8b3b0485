"""``python -m bench`` (or ``./cabin bench``): every benchmark, one after the other."""

import sys

from bench import bench_core, bench_devices, bench_ui

sys.exit(
    bench_core.main(sys.argv[1:]) or bench_devices.main(sys.argv[1:]) or bench_ui.main(sys.argv[1:])
)
