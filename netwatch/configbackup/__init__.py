"""SSH configuration backup: secret masking, version history, frozen baselines and drift."""
