"""The simulated congress venue used by `netwatch demo` and by tests: lab peers, fault scenarios, console."""
