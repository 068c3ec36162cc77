"""``modeldeck router``: an OpenAI-compatible endpoint that forwards to the registry's providers."""
