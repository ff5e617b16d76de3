"""FTP Fault Console: a real FTP server you can break on purpose, live."""

__version__ = "0.1.0"
