"""Paging decisions: topology, maintenance, flapping, incidents, escalation (delivery is netwatch.notify)."""

# netwatch.config imports netwatch.alerting.config for its sections; loading the config package
# first means importing any alerting module on its own never meets it half-initialised.
import netwatch.config  # noqa: E402,F401
