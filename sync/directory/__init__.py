"""Who reports to whom: directory sources, the pair lifecycle, scoping, and the stored directory."""
