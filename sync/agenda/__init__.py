"""The 1:1 agenda: a living page per pair, linked from every 1:1 event, with carry-over and nudges."""
