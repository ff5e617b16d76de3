"""The engine's parts on their own, no console: the rule grammar, the board and its
triggers, profiles and the ``[server]`` settings, the log line, the journal, and the
import rule that keeps Textual out of the engine."""
