"""Pure rules over a pair's meeting history: no I/O, no clock reads (`now` is passed in)."""
