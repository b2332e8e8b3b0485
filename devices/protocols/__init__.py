"""Pure codecs: bytes <-> values, one module per protocol. No I/O, no imports of the rest."""
