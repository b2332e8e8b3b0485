"""The demo cabin's composition root: the product's core (``kiosk``, ``ui``) wired to the
simulators. ``python -m demo`` runs it (``./cabin demo``).

The product never imports this package nor ``simulators``; this package fills the product's
injection points (``kiosk.app.Wiring``, ``ui.session_runner.CabinRun``) with:
- ``demo.root``: the simulated instruments (ptys and the virtual BLE radio), the simulated
  panic button's board, and the demo's own core (``open_core``, ``start_core``);
- ``demo.media``: the drawn cabin the camera films, the patient's voice, and the patient who
  follows the sessions;
- ``demo.hub``: the demo's hub, started on demand, and the scripted demo's mailbox;
- ``demo.main``: the process (``python -m demo [--scripted]``).
"""
