"""The data channel: rates, cuts, early replies and completion faults, as a mixin for
pyftpdlib's DTPHandler.

Each hook is a method of the class, as in pyftpdlib's own ``ThrottledDTPHandler``, and
each begins with one cheap guard: a transfer no rule acts on runs pyftpdlib's code.

- The rules are asked when data starts to move (``push``, ``push_with_producer``,
  ``enable_receiving``): before sendfile pushes a first chunk, which happens inside
  ``push_with_producer`` and before pyftpdlib sets the channel's command.
- A mark (a cut, an early end) is checked where bytes move: ``send`` and
  ``initiate_sendfile`` (downloads, listings), ``recv`` and ``handle_read_event`` (uploads;
  ``handle_read`` is never called through the loop, pyftpdlib binds ``handle_read_event``
  to it). A download is cut *gracefully*: its socket is half-closed and the reply waits
  until the client closed its side (at most ``CUT_GRACE``), so the client has every byte
  before it reads the 426.
- The final reply is decided in ``close()``, where pyftpdlib sends the one it chose in
  ``handle_close()``: a fault *replaces* that reply and is delivered by the control
  channel; the data channel itself then sends nothing.
- ``early``: when a download reaches its early mark, the final reply is decided and sent
  then (``reply_early``), the channel pauses ``EARLY_DELAY`` and sends the rest; whatever
  pyftpdlib would answer in ``close()`` (226, or 426 if the client dropped the data) is
  then not sent: the command had its one final reply.
"""

from __future__ import annotations

import os
import socket
import sys

from .. import events as ev
from ..points import COMPLETION_POINTS
from . import internals
from .transfer import CUT_GRACE, EARLY_DELAY, Transfer

TRANSFER_COMPLETE = "226 Transfer complete."  # what pyftpdlib says for a whole transfer


DATA_BUFFER = 1024 * 1024  # bytes a data channel reads at once (pyftpdlib: 64 KiB)
# bytes it sends or sendfile()s at once: pyftpdlib's 64 KiB. Over loopback a RETR ran about
# a fifth faster in 64 KiB sendfile() calls than in 1 MiB ones (the kernel hands the client
# smaller bursts, still in the CPU's cache); FaultServer.send_chunk() changes it per server
# (the console asks for DATA_BUFFER); bench/throughput.py shows the kernel's limit
SEND_BUFFER = 64 * 1024


class FaultDTPMixin:
    """Data channel side of the faults; mixed in before DTPHandler or TLS_DTPHandler.

    Its read buffer is 16 times pyftpdlib's: a loop iteration per MiB rather than per 64 KiB
    is less Python per byte, and fewer moments where the server waits for the GIL while
    the console draws."""

    ac_in_buffer_size = DATA_BUFFER
    ac_out_buffer_size = SEND_BUFFER
    transfer: Transfer | None = None  # made when data starts to move
    cut_waiting = False  # a cut download waits for the client to close its side

    # --- the transfer starts: ask the rules about it

    def push(self, data) -> None:
        self.start_transfer()
        super().push(data)

    def push_with_producer(self, producer) -> None:
        self.start_transfer()
        super().push_with_producer(producer)

    def enable_receiving(self, type, cmd) -> None:
        self.start_transfer()
        super().enable_receiving(type, cmd)

    def start_transfer(self) -> None:
        if self.transfer is not None:
            return
        channel = self.cmd_channel
        command = channel.transfer_cmd or self.cmd or ""
        point = COMPLETION_POINTS.get(command, "list")
        fs, file = channel.fs, self.file_obj
        path = fs.final_name(file) if file is not None else channel.transfer_path
        if fs is not None and path:
            path = fs.fs2ftp(path)
        offset, size = channel.transfer_offset, -1
        if file is not None and point == "upload":
            try:  # where this upload starts writing: past the old content for APPE or REST
                offset = file.tell()
            except (OSError, ValueError):
                offset = 0
        elif file is not None and point == "download":
            size = max(0, os.fstat(file.fileno()).st_size - offset)
        self.transfer = transfer = Transfer(next(channel.transfer_ids), command, path, point,
                                            channel.username, offset, size, channel.remote_ip,
                                            channel.session_id)
        channel.running.add(self)
        if command in COMPLETION_POINTS:
            for rule in transfer.plan(channel.board):
                channel.fault(rule, transfer.about())
        self.report_progress()  # the transfer shows as soon as it starts

    def report_progress(self) -> None:
        self.cmd_channel.emit(ev.PROGRESS, bytes=self.get_transmitted_bytes(),
                              elapsed=round(self.get_elapsed_time(), 3), **self.transfer.about())

    def use_sendfile(self) -> bool:
        if self.transfer is not None and self.transfer.rate is not None:
            return False  # throttling paces every chunk
        return super().use_sendfile()

    # --- bytes moving: the guard, then the rate and the cut

    def send(self, data) -> int:
        transfer = self.transfer
        if transfer is None or not transfer.acts:
            return super().send(data)
        if transfer.room(self.tot_bytes_sent) == 0 and self.at_mark():
            return 0  # more data is waiting: cut, or reply early, here
        sent = super().send(data[:transfer.chunk(len(data), self.tot_bytes_sent)])
        if transfer.rate and sent:
            self.throttle(sent)
        return sent

    def initiate_sendfile(self) -> None:
        transfer = self.transfer
        if transfer is not None and transfer.marks:
            room = transfer.room(self.tot_bytes_sent)
            if room == 0:
                offset, fd = internals.sendfile_offset(self)
                if offset < os.fstat(fd).st_size and self.at_mark():
                    return
                room = transfer.room(self.tot_bytes_sent)
            full = type(self).ac_out_buffer_size  # sendfile() sends this much at most
            self.ac_out_buffer_size = full if room is None else min(full, room)
        super().initiate_sendfile()

    def recv(self, buffer_size: int) -> bytes:
        transfer = self.transfer
        if transfer is None or not transfer.acts:
            return super().recv(buffer_size)
        chunk = super().recv(max(1, transfer.chunk(buffer_size, self.tot_bytes_received)))
        if transfer.rate and chunk:
            self.throttle(len(chunk))
        return chunk

    def handle_read_event(self) -> None:
        transfer = self.transfer
        if transfer is not None:
            if self.cut_waiting:  # a cut download: only the client's close is awaited
                if self.raw_recv(65536) == b"":
                    self.finish_cut()
                return
            if self.receive and transfer.room(self.tot_bytes_received) == 0:
                # exactly after= bytes are in: more to come is a cut, end of file a whole upload
                more = self.raw_recv(1, socket.MSG_PEEK)
                if more is None or (more and self.cut()):
                    return
        super().handle_read_event()

    def readable(self) -> bool:
        return True if self.cut_waiting else super().readable()

    def writable(self) -> bool:
        return False if self.cut_waiting else super().writable()

    def raw_recv(self, size: int, flags: int = 0) -> bytes | None:
        """Read past pyftpdlib's bookkeeping: b"" at the end, None when nothing is there yet."""
        try:
            return self.socket.recv(size, flags) if flags else self.socket.recv(size)
        except BlockingIOError:
            return None
        except OSError:
            return b""
        except Exception as err:  # pyOpenSSL: want-read waits; anything else is the end
            return None if type(err).__name__ == "WantReadError" else b""

    # --- the marks: an early reply, a cut

    def at_mark(self) -> bool:
        """The byte count reached a mark (more data waiting): reply early and pause, or cut;
        False when neither happens and the transfer carries on."""
        if self.transfer.early_due(self.get_transmitted_bytes()):
            self.reply_early()
            return True
        return self.cut()

    def reply_early(self) -> None:
        """The final reply now, as if the transfer ended here; the rest after EARLY_DELAY."""
        transfer, channel = self.transfer, self.cmd_channel
        rule, fired = transfer.ending(channel.board, TRANSFER_COMPLETE)
        for fired_rule in fired:
            channel.fault(fired_rule, transfer.about())
        if rule is None:
            answer = TRANSFER_COMPLETE
            channel.respond(answer)
        else:
            answer = None if rule.stall or rule.reset else rule.reply or TRANSFER_COMPLETE
            channel.deliver(rule, answer)
        transfer.replied = answer or ""  # close() reports it, and sends nothing more
        self.del_channel()
        self.call_later(EARLY_DELAY, self.unthrottle)

    def cut(self) -> bool:
        """The byte count reached a cut: fire it and cut, or carry on (False)."""
        transfer = self.transfer
        rule = transfer.cut_now(self.cmd_channel.board, self.get_transmitted_bytes())
        if rule is None:
            return False
        if rule not in transfer.started:  # a rule that fired at the start was told then
            self.cmd_channel.fault(rule, transfer.about(), action=f"cut after {rule.after} B")
        if self.receive:  # an upload: stop reading and close at once
            self.finish_cut()
        else:  # a download: half-close, so the client reads every byte before the reply
            self.half_close()
            self.cut_waiting = True
            self.modify_ioloop_events(self.ioloop.READ)
            self.call_later(CUT_GRACE, self.finish_cut)
        return True

    def half_close(self) -> None:
        """Stop sending but keep reading (TLS: close_notify first, then the TCP FIN)."""
        sock = self.socket
        try:
            if hasattr(sock, "sock_shutdown"):  # pyOpenSSL
                try:
                    sock.shutdown()
                except Exception:
                    pass
                sock.sock_shutdown(socket.SHUT_WR)
            else:
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def finish_cut(self) -> None:
        if not internals.closed(self):
            self.transfer_finished = False
            internals.set_reply(self, "426 Transfer cut.")  # replaced by the rule in close()
            self.close()

    # --- rate

    def throttle(self, nbytes: int) -> None:
        """Pause the channel until the bytes so far fit the rate."""
        wait = self.transfer.pause_for(nbytes)
        if wait > 0.002:
            self.del_channel()
            self.call_later(wait, self.unthrottle)

    def unthrottle(self) -> None:
        if not internals.closed(self):
            reading = self.receive or self.cut_waiting
            self.add_channel(events=self.ioloop.READ if reading else self.ioloop.WRITE)

    # --- the end

    def handle_close(self) -> None:
        # pyftpdlib's recv() calls handle_close() from inside its ``except OSError`` block
        # when the peer resets the connection, and would answer 226: an upload ended by a
        # reset did not complete (and a fault must not fire on it)
        err = sys.exc_info()[1]
        if (self.receive and not internals.closed(self) and isinstance(err, OSError)
                and err.errno in internals.DISCONNECTED_ERRNOS):
            internals.set_reply(self, "426 Connection reset by peer; transfer aborted.")
            self.close()
            return
        super().handle_close()

    def close(self) -> None:
        transfer = self.transfer
        if transfer is None or internals.closed(self):  # no transfer ever started on it
            super().close()
            return
        channel = self.cmd_channel
        channel.running.discard(self)
        normal = internals.pending_reply(self)
        rule, answer = None, normal
        if transfer.replied is not None:  # the final reply went out early: nothing more
            answer = transfer.replied
            internals.clear_reply(self)
        else:
            rule, fired = transfer.ending(channel.board, normal)
            for fired_rule in fired:
                channel.fault(fired_rule, transfer.about())
        if rule is not None:
            answer = None if rule.stall or rule.reset else rule.reply or normal
            if not rule.keep and self.receive:
                self.remove_upload()
            if answer is None or not answer.startswith("2"):
                self.transfer_finished = False  # pyftpdlib then calls the "incomplete" hooks
            internals.clear_reply(self)  # the control channel delivers the answer
        # after a QUIT during the transfer pyftpdlib would close the session before the
        # answer went out: deliver() closes it once the answer is out instead
        quitting = rule is not None and internals.quit_pending(channel)
        if quitting:
            internals.set_quit_pending(channel, False)
        if self.receive and self.transfer_finished:
            self.rename_upload()
        super().close()
        # the transfer's event before the answer is delivered: a drop or a reset ends the
        # session there, and a transfer is never told after its session closed
        channel.emit(ev.TRANSFER, bytes=self.get_transmitted_bytes(),
                     elapsed=round(self.get_elapsed_time(), 3),
                     code=int(answer[:3]) if answer else None, **transfer.about())
        if rule is not None:
            internals.set_quit_pending(channel, quitting)
            channel.deliver(rule, answer)

    def rename_upload(self) -> None:
        """A whole upload written under its partial name gets its own before the reply
        says it is complete (pyftpdlib's on_file_received() comes after the 226)."""
        final = self.cmd_channel.fs.final_name(self.file_obj)
        if final != self.file_obj.name:
            self.file_obj.close()
            try:
                os.replace(self.file_obj.name, final)
            except OSError as err:
                self.cmd_channel.emit(ev.ERROR, message=f"cannot rename {self.file_obj.name} to "
                                                        f"{final}: {err.strerror}")

    def remove_upload(self) -> None:
        """keep=no: what this upload wrote is gone before the reply goes out (the file,
        or for an APPE or a resumed STOR only the part past where it started writing)."""
        try:
            self.file_obj.close()
            if self.transfer.offset:
                os.truncate(self.file_obj.name, self.transfer.offset)
            else:
                os.remove(self.file_obj.name)
        except OSError:
            pass
