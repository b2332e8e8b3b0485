"""The hub: doctors' sign-in, the waiting room, the call's signaling, signed prescriptions, the
doctor's console (served from ``hub/console/``). Start one with `hub.app.start_hub`; see
``PROTOCOL.md`` for its interfaces and ``python -m hub --help`` for its command line."""
