"""The local Ollama: HTTP client, service, catalog, VRAM estimates, the pull worker pool."""
