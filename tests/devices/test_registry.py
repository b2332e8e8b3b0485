"""The registry: which driver speaks which configured model, and which models are unverified."""

from __future__ import annotations

import logging

import pytest

from devices.drivers.and_bp import AndBloodPressureMonitor
from devices.drivers.nonin import NoninDf8Oximeter
from devices.models import DEFAULT_MODELS, UNVERIFIED_MODELS, resolve_model
from devices.registry import (
    BLE_MODELS,
    SERIAL_MODELS,
    ConfigurationRefused,
    InstrumentSpec,
    build_instrument,
)
from simulators.cabin import BLE_SIMULATORS, SERIAL_SIMULATORS


def test_every_model_has_a_simulator_and_every_unverified_model_exists() -> None:
    assert set(SERIAL_MODELS) == set(SERIAL_SIMULATORS)
    assert set(BLE_MODELS) == set(BLE_SIMULATORS)
    assert set(SERIAL_MODELS) | set(BLE_MODELS) >= UNVERIFIED_MODELS
    assert "and-ua767" in UNVERIFIED_MODELS


def test_the_9560_model_selects_the_data_format_8_driver() -> None:
    spec = InstrumentSpec("ox", "pulse_oximeter", "serial", "/dev/rfcomm0", "nonin-9560")
    assert isinstance(build_instrument(spec), NoninDf8Oximeter)


def test_a_default_model_resolves() -> None:
    assert (
        resolve_model("blood_pressure", "serial", "")
        == DEFAULT_MODELS[("blood_pressure", "serial")]
    )
    assert resolve_model("pulse_oximeter", "serial", "nonin-9560") == "nonin-9560"


def test_building_an_unverified_model_says_so_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    spec = InstrumentSpec("bp", "blood_pressure", "serial", "/dev/ttyUSB1", "and-ua767")
    with caplog.at_level(logging.WARNING, logger="devices.registry"):
        assert isinstance(build_instrument(spec), AndBloodPressureMonitor)
    assert "device.unverified_protocol device=bp model=and-ua767" in caplog.text


def test_an_unknown_model_is_refused() -> None:
    with pytest.raises(ConfigurationRefused, match="no serial model 'nonin-9999'"):
        build_instrument(InstrumentSpec("ox", "pulse_oximeter", "serial", "/dev/x", "nonin-9999"))
