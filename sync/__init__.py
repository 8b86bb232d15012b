"""The daemon: config, store, sync loop, agenda, notifications, CLI."""
