"""netwatch: network and infrastructure assurance monitor."""

__version__ = "0.1.0"
