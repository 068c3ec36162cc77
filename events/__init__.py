"""Event names, payload schemas and the bus that turns committed writes into broadcasts."""
