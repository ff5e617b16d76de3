"""The test suite, by area (see each package's docstring); helpers live in ``tests.support``."""
