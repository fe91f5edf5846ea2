"""Paging decisions: topology, maintenance, flapping, incidents, escalation (delivery is netwatch.notify)."""
