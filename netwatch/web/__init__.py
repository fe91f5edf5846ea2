"""HTTP side of netwatch: /metrics, the JSON API, and later the status board and webhooks."""
