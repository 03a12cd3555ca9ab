"""Measuring helpers shared by the client, the report, the benchmarks and the node: statistics of
timings, process memory from /proc, and a description of the machine."""
