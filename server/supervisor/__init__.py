"""Supervision of the proxy processes: their config, start/stop, logs and OS-level helpers."""
