"""Running several netwatch nodes on one PostgreSQL: pure cores for slots, leases, votes and isolation."""
