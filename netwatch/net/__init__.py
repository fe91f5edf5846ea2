"""Protocol clients and engines: TCP/TLS, HTTP, ICMP, SNMP, SMTP/IMAP, SSH host keys, cookies, certificates."""
