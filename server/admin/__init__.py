"""``modeldeck`` admin commands: a client of a running server that imports nothing of it."""
