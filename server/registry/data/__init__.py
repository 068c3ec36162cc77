"""The first-start seed of the registry, shipped as package data."""
