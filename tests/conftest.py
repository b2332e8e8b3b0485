"""What every test shares."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

# Hypothesis fails an example that takes over 200 ms, and a run whose data comes slowly: a
# timing check, which a loaded CI machine turns red. The codecs' speed is measured in
# bench/bench_devices.py; here only what they decode counts.
settings.register_profile("cabin", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("cabin")
