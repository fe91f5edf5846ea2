"""Post-event uptime reports: pure maths over stored history, rendered as PDF, HTML, CSV, JSON, Markdown."""
