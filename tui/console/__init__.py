"""The Textual console: the app, its one stylesheet, its key table and widgets. It reads the
engine (rules on the board, events from the bus) and never the command line."""
