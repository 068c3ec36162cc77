"""modeldeck server: the aiohttp app, REST routes, socket handlers, Ollama, pulls, proxy."""
