"""The console: driven by its real keys under Textual's Pilot (with a real server and real
clients beside it), fed hostile client text, drawn for the README screenshot, and run in a
real terminal (tmux)."""
