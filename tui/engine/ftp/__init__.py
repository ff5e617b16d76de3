"""pyftpdlib handler subclasses: where each fault is injected.

``control`` (commands and the delivery of every fault's answer), ``data`` (rates, cuts and
completion faults on the data channel), ``transfer`` (one transfer's plan), ``tls`` (the
same over FTPS), ``internals`` (the private pyftpdlib state they rely on, named once)."""
