"""The Ollama model catalog, shipped as package data."""
