"""Paging decisions: topology, maintenance, flapping, incidents, escalation (delivery is netwatch.notify)."""

# netwatch.config imports netwatch.config.paging for its sections; loading the config package
# first means importing any alerting module on its own never meets it half-initialised.
import netwatch.config  # noqa: E402,F401
