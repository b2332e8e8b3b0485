"""``python -m bench`` (or ``./cabin bench``): every benchmark, one after the other."""

import sys

from bench import (
    bench_cabin_service,
    bench_call,
    bench_core,
    bench_cups,
    bench_devices,
    bench_distress_live,
    bench_distress_sound,
    bench_distress_vision,
    bench_echo,
    bench_history,
    bench_hub_fleet,
    bench_hub_flood,
    bench_printing,
    bench_selftest,
    bench_slow_link,
    bench_soak,
    bench_teleconsultation,
    bench_ui,
)

sys.exit(
    bench_core.main(sys.argv[1:])
    or bench_devices.main(sys.argv[1:])
    or bench_printing.main(sys.argv[1:])
    or bench_cups.main(sys.argv[1:])
    or bench_ui.main(sys.argv[1:])
    or bench_call.main(sys.argv[1:])
    or bench_teleconsultation.main(sys.argv[1:])
    or bench_slow_link.main(sys.argv[1:])
    or bench_hub_flood.main(sys.argv[1:])
    or bench_hub_fleet.main(sys.argv[1:])
    or bench_selftest.main(sys.argv[1:])
    or bench_distress_vision.main(sys.argv[1:])
    or bench_distress_live.main(sys.argv[1:])
    or bench_distress_sound.main(sys.argv[1:])
    or bench_echo.main(sys.argv[1:])
    or bench_history.main(sys.argv[1:])
    or bench_cabin_service.main(sys.argv[1:])
    or bench_soak.main(sys.argv[1:])  # last: the full soak takes about 75 minutes
)
