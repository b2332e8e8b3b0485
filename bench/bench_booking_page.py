"""The public booking page's time to interactive in headless Chromium, beside a bare static
page served by the same hub in the same run; and the page's proof of work at the hub's
default strength.

    python -m bench.bench_booking_page [--quick]

Each visit is a fresh browser context (an empty cache, as a patient's first visit) at a
phone's size, pages interleaved. For the booking page, "interactive" is the moment its town
field is enabled with the towns loaded from the hub (the page's `booking-ready` mark: its
module script, its string table and style sheet, and one API call); for the bare page, its
load event. Both are read from the page's own clock (from the navigation's start). Prints
medians and the ratio; target: the booking page interactive in 1 s or less on loopback.
Nothing passes or fails here.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
from pathlib import Path

from playwright.async_api import Browser, async_playwright

from hub.app import load_hub_config, start_hub
from hub.config import PublicBookingSection
from simulators.doctor import CHROMIUM, CHROMIUM_ARGS
from tests.hub.hub_key import TEST_KEY
from tests.hub.test_booking_http import seed_booking

PHONE = {"width": 360, "height": 740}
BARE = "<!doctype html><html lang=fr><meta charset=utf-8><title>bare</title><p>Bonjour</p>\n"
_READY = """() => new Promise((done) => {
  const look = () => {
    const mark = performance.getEntriesByName("booking-ready")[0];
    if (mark) done(mark.startTime); else setTimeout(look, 5);
  };
  look();
})"""
_LOADED = """() => new Promise((done) => {
  const look = () => {
    const nav = performance.getEntriesByType("navigation")[0];
    if (nav && nav.loadEventEnd > 0) done(nav.loadEventEnd); else setTimeout(look, 5);
  };
  look();
})"""
_PROOF = """async ([bits, subtle]) => {
  const { solveChallenge } = await import("/rendez-vous/main.js");
  const times = [];
  for (let i = 0; i < 12; i += 1) {
    const challenge = [...crypto.getRandomValues(new Uint8Array(16))]
      .map((b) => b.toString(16).padStart(2, "0")).join("");
    const started = performance.now();
    await solveChallenge(challenge, bits, subtle ? {} : { subtle: null });
    times.push(performance.now() - started);
  }
  return times;
}"""


async def _visit(browser: Browser, url: str, ready: str) -> tuple[float, float]:
    context = await browser.new_context(viewport=PHONE)  # type: ignore[arg-type]
    try:
        page = await context.new_page()
        await page.goto(url, wait_until="commit")
        interactive = float(await page.evaluate(ready))
        loaded = float(await page.evaluate(_LOADED))
        return interactive, loaded
    finally:
        await context.close()


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


async def main_async(quick: bool) -> None:
    rounds = 5 if quick else 25
    with tempfile.TemporaryDirectory(prefix="bench-booking-") as work:
        folder = Path(work)
        console = folder / "console"
        console.mkdir()
        (console / "index.html").write_text(BARE)
        (console / "bare.html").write_text(BARE)
        config = load_hub_config(
            None, data_dir=folder / "hub", overrides={"port": 0, "argon2_cost": "test"}
        )
        hub = await start_hub(config, key=TEST_KEY, console_dir=console)
        try:
            await seed_booking(hub)
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=list(CHROMIUM_ARGS)
                )
                try:
                    booking: list[float] = []
                    booking_load: list[float] = []
                    bare: list[float] = []
                    await _visit(browser, f"{hub.url}/rendez-vous", _READY)  # warm-up
                    await _visit(browser, f"{hub.url}/console/bare.html", _LOADED)
                    for _ in range(rounds):
                        ready, loaded = await _visit(browser, f"{hub.url}/rendez-vous", _READY)
                        booking.append(ready)
                        booking_load.append(loaded)
                        bare.append(
                            (await _visit(browser, f"{hub.url}/console/bare.html", _LOADED))[0]
                        )
                    context = await browser.new_context(viewport=PHONE)  # type: ignore[arg-type]
                    page = await context.new_page()
                    await page.goto(f"{hub.url}/rendez-vous")
                    await page.evaluate(_READY)
                    bits = PublicBookingSection().proof_bits
                    proofs = [float(t) for t in await page.evaluate(_PROOF, [bits, True])]
                    plain = [float(t) for t in await page.evaluate(_PROOF, [bits, False])]
                    await context.close()
                finally:
                    await browser.close()
        finally:
            await hub.stop()
    ratio = _median(booking) / _median(bare)
    print(f"booking page, {rounds} fresh visits at 360x740 in headless Chromium, loopback")
    print(f"  bare static page (same hub), load event:   median {_median(bare):7.1f} ms")
    print(f"  /rendez-vous, load event:                   median {_median(booking_load):7.1f} ms")
    print(
        f"  /rendez-vous, interactive (towns loaded):   median {_median(booking):7.1f} ms"
        f"  (max {max(booking):.1f})  ratio to bare {ratio:.1f}x  target <= 1000 ms"
    )
    print(
        f"  proof of work at {bits} bits (crypto.subtle), 12 challenges:"
        f" median {_median(proofs):.0f} ms, max {max(proofs):.0f} ms"
        " (a phone is a few times slower; target 100-300 ms there)"
    )
    print(
        f"  the same without crypto.subtle (the page's own SHA-256, plain HTTP):"
        f" median {_median(plain):.0f} ms, max {max(plain):.0f} ms"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_booking_page", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer visits: a smoke run")
    args = parser.parse_args(argv)
    asyncio.run(main_async(args.quick))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
