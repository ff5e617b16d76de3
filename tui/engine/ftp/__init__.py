"""pyftpdlib handler subclasses: where each fault is injected.

``control`` (commands, the greeting, the delivery of every fault's answer, the server's
dialect), ``replies`` (what a shaped reply looks like), ``data`` (rates, cuts, early
replies and completion faults on the data channel), ``transfer`` (one transfer's plan),
``listener`` (the passive listener's data connection faults), ``tls`` (the same over FTPS,
and TLS session reuse), ``internals`` (the private pyftpdlib state they rely on, named once)."""
