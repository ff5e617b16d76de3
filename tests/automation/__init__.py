"""Driving the fault server from scripts and CI: the control API (``--control``) and
``ftpfault ctl``, the headless command line, the example profiles in ``profiles/``, the
Python testing API (``tui.testing``) and the pytest plugin, each used as a user would:
real HTTP, real processes, real pytest runs, real FTP clients."""
