"""The registry of providers, models, credentials and configs: service, read cache, snapshots."""
