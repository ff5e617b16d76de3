"""The parts of pyftpdlib's (and pyOpenSSL's) private state the fault handlers rely on,
named once.

pyftpdlib documents its hooks (``on_login``, ``log_transfer``, ...), not the attributes a
fault has to reach: the reply a data channel will send when it closes, the REST offset, a
QUIT waiting for a transfer. Each is read or written here and nowhere else, and
``tests/ftp/test_internals.py`` checks every one against the installed pyftpdlib, so an
upgrade that changes one fails there, by name, rather than somewhere in a fault.
"""

from __future__ import annotations

import logging

from pyftpdlib.handlers import DTPHandler, FTPHandler
from pyftpdlib.ioloop import _ERRNOS_DISCONNECTED

__all__ = [
    "DISCONNECTED_ERRNOS", "broken", "clear_reply", "close_connecting_data", "closed", "closing",
    "drop_queued_transfer", "line_buffer", "pending_reply", "quit_pending", "reset_idle_timer",
    "restart_position", "sendfile_offset", "set_line_buffer", "set_quit_pending", "set_reply",
    "set_restart_position", "started", "tls_session_reused", "transfer_queued",
]

log = logging.getLogger("pyftpdlib")

# errnos after which pyftpdlib treats a socket as gone (a reset, a broken pipe)
DISCONNECTED_ERRNOS = _ERRNOS_DISCONNECTED


# --- a data channel (DTPHandler)


def pending_reply(dtp: DTPHandler) -> str | None:
    """The final reply the channel sends from close(): pyftpdlib picks it in handle_close()
    (226, or 426 when the transfer broke) and sends it once, in close()."""
    return dtp._resp[0] if dtp._resp else None


def set_reply(dtp: DTPHandler, reply: str) -> None:
    dtp._resp = (reply, log.info)


def clear_reply(dtp: DTPHandler) -> None:
    """close() then sends nothing: the fault delivers its own answer."""
    dtp._resp = ()


def started(dtp: DTPHandler) -> bool:
    """Whether data ever started to move (push, push_with_producer, enable_receiving)."""
    return dtp._initialized


def sendfile_offset(dtp: DTPHandler) -> tuple[int, int]:
    """(the file position sendfile() sends from next, the file descriptor)."""
    return dtp._offset, dtp._filefd


# --- either channel (AsyncChat)


def closed(channel) -> bool:
    return channel._closed


def closing(channel) -> bool:
    """close_when_done() was called: the channel closes once its output is out."""
    return channel._closing


# --- a control channel (FTPHandler)


def restart_position(handler: FTPHandler) -> int:
    """The offset of the last REST, used up by the next transfer command."""
    return handler._restart_position


def set_restart_position(handler: FTPHandler, offset: int) -> None:
    handler._restart_position = offset


def quit_pending(handler: FTPHandler) -> bool:
    """A QUIT came during a transfer: the session closes when the data channel does."""
    return handler._quit_pending


def set_quit_pending(handler: FTPHandler, pending: bool) -> None:
    handler._quit_pending = pending


def line_buffer(handler: FTPHandler) -> tuple[list[bytes], int]:
    """The parts of the command line read so far, and their length."""
    return handler._in_buffer, handler._in_buffer_len


def set_line_buffer(handler: FTPHandler, parts: list[bytes], length: int) -> None:
    handler._in_buffer, handler._in_buffer_len = parts, length


def reset_idle_timer(handler: FTPHandler) -> None:
    """What pyftpdlib does for every line it reads: the session is not idle."""
    idler = handler._idler
    if idler is not None and not idler.cancelled:
        idler.reset()


def close_connecting_data(handler: FTPHandler) -> None:
    """Close a passive listener or an active connect that has not become a data channel."""
    handler._shutdown_connecting_dtp()


def broken(handler: FTPHandler | DTPHandler) -> None:
    """Mark a TLS channel broken: pyftpdlib's TLS close() then skips its close_notify."""
    handler._error = True


def transfer_queued(handler: FTPHandler) -> bool:
    """A transfer command was answered 150 and waits for its data connection."""
    return handler._out_dtp_queue is not None or handler._in_dtp_queue is not None


def drop_queued_transfer(handler: FTPHandler) -> None:
    """Forget a transfer waiting for its data connection, and close its file."""
    for queued, file_at in ((handler._out_dtp_queue, 2), (handler._in_dtp_queue, 0)):
        if queued is not None and queued[file_at] is not None:
            queued[file_at].close()
    handler._out_dtp_queue = handler._in_dtp_queue = None


# --- pyOpenSSL


def tls_session_reused(connection) -> bool:
    """Whether a TLS connection's handshake resumed an earlier session (pyOpenSSL has no
    method for OpenSSL's SSL_session_reused)."""
    from OpenSSL._util import lib

    return bool(lib.SSL_session_reused(connection._ssl))
