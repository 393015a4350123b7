"""Independent implementations the tests (and benchmarks) check ps2f against; not part of the package."""
