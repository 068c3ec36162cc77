"""SQLite persistence: connection, migrations, one transaction per write, encrypted secrets."""
