"""An incremental Server-Sent Events decoder: bytes as they arrive from the network -> events.

Follows the WHATWG event-stream rules (https://html.spec.whatwg.org/multipage/server-sent-events.html):
lines end with LF, CRLF or CR (a CRLF may be split across two reads); a line starting with `:` is a comment
(OpenRouter sends `: OPENROUTER PROCESSING` keep-alives, shared/openrouter-api.md §12 — a parser that JSON-parses
every line breaks on them, brainlid/langchain#569); `data:` lines accumulate (joined by LF) until a blank line
dispatches the event; one space after the colon is dropped; unknown fields are ignored. Bytes are split into
lines before decoding, so a multi-byte UTF-8 character cut between reads is decoded whole.

    decoder = SSEDecoder()
    async for chunk in response.content.iter_any():
        for event in decoder.feed(chunk):
            if event.data == "[DONE]": ...
    events = decoder.flush()   # at EOF: an event whose blank line never came is still delivered

`feed_data` / `flush_data` give the same events' `data` only, as UTF-8 bytes, for consumers that read nothing
else (OpenAI-style streams): there the common event, one `data: ` line, is cut out of the read with a slice.

`[DONE]` has no special meaning here: it is OpenAI's convention, handled by the client.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SSEDecoder", "SSEEvent"]


@dataclass(frozen=True, slots=True)
class SSEEvent:
    data: str
    event: str | None = None
    id: str | None = None


class SSEDecoder:
    """Feed it bytes; it returns the events completed by them. Keeps a partial line between calls."""

    __slots__ = ("_after_cr", "_buffer", "_data", "_event", "_id", "_more", "comments")

    def __init__(self) -> None:
        # The partial last line (never a line break): its first piece, then the reads that went on with it without
        # ending it, appended in place. Adding each read to `_buffer` copied a long line (a base64 image in one
        # `data:` line) once per read, quadratic in its length; now it is joined once, when it ends.
        self._buffer = b""
        self._more = bytearray()
        self._after_cr = False  # the previous chunk ended with CR: a leading LF belongs to that line end
        self._data: list[str] = []
        self._event: str | None = None
        self._id: str | None = None
        self.comments = 0  # comment lines seen (keep-alives), for tests and diagnostics

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        if not chunk:
            return []
        if self._after_cr:
            self._after_cr = False
            if chunk.startswith(b"\n"):
                chunk = chunk[1:]
        buffer = chunk
        if self._buffer:  # a line end can only be in `chunk`: `_buffer` holds no CR or LF for it to pair with
            if 0x0A not in chunk and 0x0D not in chunk:  # LF, CR as ints: a memchr, several times faster than bytes
                self._more += chunk
                return []
            buffer = self._buffer + chunk if not self._more else self._joined(chunk)
        if b"\r" in buffer:
            self._after_cr = buffer.endswith(b"\r")
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = buffer.split(b"\n")
        self._buffer = lines.pop()
        events: list[SSEEvent] = []
        data = self._data
        for line in lines:  # `data:` lines and blank lines inline (nearly every line), the rest in `_line`
            if line.startswith(b"data:"):
                value = line[6:] if line[5:6] == b" " else line[5:]
                data.append(value.decode("utf-8", "replace"))
            elif line:
                self._line(line, events)
            else:
                if data:
                    events.append(SSEEvent("\n".join(data), self._event, self._id))
                    data = self._data = []
                self._event = None
        return events

    def feed_data(self, chunk: bytes) -> list[bytes]:
        """`[e.data.encode() for e in feed(chunk)]`, faster: at an event boundary, with LF line ends (nearly every
        read of an OpenAI-style stream), each complete event that is one `data: ` line is a slice of the read,
        with no decoding and no `SSEEvent`; any other event, or a read with CR, goes through `feed`'s rules."""
        if self._data or self._event is not None or self._after_cr or 0x0D in chunk:  # CR as an int: see `feed`
            return [e.data.encode() for e in self.feed(chunk)]
        buffer = chunk
        if self._buffer:  # as in `feed`; no CR here
            if 0x0A not in chunk:
                self._more += chunk
                return []
            buffer = self._buffer + chunk if not self._more else self._joined(chunk)
        end = buffer.rfind(b"\n\n")  # the events before it are complete; what follows is the next one's start
        if end < 0:
            out: list[bytes] = []
        elif buffer.find(b"\n") == end and buffer.startswith(b"data: "):  # one event of one line: most reads
            out = [buffer[6:end]]
        else:
            out = buffer[6:end].split(b"\n\ndata: ")
            # Every line break before `end` in a separator: the events are all one `data: ` line (most other reads).
            if not (buffer.startswith(b"data: ") and buffer.count(b"\n", 0, end) == 2 * len(out) - 2):
                out = []
                for block in buffer[:end].split(b"\n\n"):
                    if block.startswith(b"data: ") and b"\n" not in block:
                        out.append(block[6:])
                    else:  # comments, other fields, several data lines: the general rules
                        self._block(block, out)
        if end >= 0:
            if end + 2 == len(buffer):
                self._buffer = b""
                return out
            buffer = buffer[end + 2 :]
        # The start of the next event: its complete lines are taken in now, the partial last line is kept. (None
        # of them is blank after a data line, which would have ended an event above, so none dispatches one.)
        lines = buffer.split(b"\n")
        self._buffer = lines.pop()
        if lines:
            self._block_lines(lines, out)
        return out

    def _joined(self, chunk: bytes) -> bytes:
        """The partial line, then `chunk`, as one."""
        buffer = b"".join((self._buffer, self._more, chunk))
        self._more.clear()
        return buffer

    def _block_lines(self, lines: list[bytes], out: list[bytes]) -> None:
        events: list[SSEEvent] = []
        for line in lines:
            self._line(line, events)
        out.extend(e.data.encode() for e in events)

    def _block(self, block: bytes, out: list[bytes]) -> None:
        """The data of the event in `block` (its lines, without the blank line that ended it), if any."""
        self._block_lines([*block.split(b"\n"), b""], out)

    def flush_data(self) -> list[bytes]:
        """`flush()`'s events' data, as `feed_data` gives it."""
        return [e.data.encode() for e in self.flush()]

    def flush(self) -> list[SSEEvent]:
        """End of stream: the last partial line is taken as a line, and a pending event is dispatched."""
        events: list[SSEEvent] = []
        if self._buffer:
            line, self._buffer = self._joined(b""), b""
            self._line(line, events)
        self._line(b"", events)
        return events

    def _line(self, line: bytes, events: list[SSEEvent]) -> None:
        if not line:
            if self._data:
                events.append(SSEEvent("\n".join(self._data), self._event, self._id))
            self._data = []
            self._event = None
            return
        if line[0] == 0x3A:  # ":" — a comment
            self.comments += 1
            return
        name, colon, value = line.partition(b":")
        if colon and value.startswith(b" "):
            value = value[1:]
        if name == b"data":
            self._data.append(value.decode("utf-8", "replace"))
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        elif name == b"id" and b"\0" not in value:
            self._id = value.decode("utf-8", "replace")
        # "retry" and unknown fields are ignored
