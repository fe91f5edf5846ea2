"""The CLI subcommands that act on a config and its history store (paging, baselines, config backup)."""
