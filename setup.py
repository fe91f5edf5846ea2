"""Builds the ICMP engine's C loops (netwatch/net/_echo.c) and the SNMP column walk's BER loop
(netwatch/net/snmp/_ber.c); the rest of the metadata is in pyproject.toml.

optional=True: without a C compiler and Python's headers the install still succeeds and the pure-Python
engine runs (same behaviour, ~3x the CPU per echo; the install script and the daemon's log say which
engine runs), and ber.py reads GETBULK answers in Python (same results, ~7x the CPU; `ber.engine()`).
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("netwatch.net._echo", ["netwatch/net/_echo.c"], optional=True,
                             extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]),
                   Extension("netwatch.net.snmp._ber", ["netwatch/net/snmp/_ber.c"], optional=True,
                             extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"])])
