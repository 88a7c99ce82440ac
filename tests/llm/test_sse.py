"""The SSE decoder, fed hand-written byte chunks."""

from __future__ import annotations

import base64

from wikismith.llm.sse import SSEDecoder, SSEEvent


def feed_all(chunks: list[bytes]) -> list[SSEEvent]:
    """The events of `chunks`; checks on the way that `feed_data` gives the same events' data."""
    decoder = SSEDecoder()
    events = [e for chunk in chunks for e in decoder.feed(chunk)]
    events += decoder.flush()
    assert data_all(chunks) == [e.data.encode() for e in events]
    return events


def data_all(chunks: list[bytes]) -> list[bytes]:
    decoder = SSEDecoder()
    return [d for chunk in chunks for d in decoder.feed_data(chunk)] + decoder.flush_data()


def test_one_event_per_blank_line() -> None:
    assert feed_all([b"data: a\n\ndata: b\n\n"]) == [SSEEvent("a"), SSEEvent("b")]


def test_event_split_across_reads_mid_line() -> None:
    assert feed_all([b'data: {"x"', b": 1}\n", b"\n"]) == [SSEEvent('{"x": 1}')]


def test_event_split_one_byte_at_a_time() -> None:
    raw = b": OPENROUTER PROCESSING\n\ndata: hello\n\ndata: [DONE]\n\n"
    assert feed_all([raw[i : i + 1] for i in range(len(raw))]) == [SSEEvent("hello"), SSEEvent("[DONE]")]


def test_comment_lines_are_skipped_and_counted() -> None:
    decoder = SSEDecoder()
    events = decoder.feed(b": OPENROUTER PROCESSING\n\n: OPENROUTER PROCESSING\n\ndata: x\n\n")
    assert events == [SSEEvent("x")]
    assert decoder.comments == 2


def test_crlf_line_ends() -> None:
    assert feed_all([b"data: a\r\n\r\ndata: b\r\n\r\n"]) == [SSEEvent("a"), SSEEvent("b")]


def test_crlf_split_between_reads_is_one_line_end() -> None:
    assert feed_all([b"data: a\r", b"\n\r", b"\ndata: b\r\n\r\n"]) == [SSEEvent("a"), SSEEvent("b")]


def test_lone_cr_line_ends() -> None:
    assert feed_all([b"data: a\r\rdata: b\r\r"]) == [SSEEvent("a"), SSEEvent("b")]


def test_multiple_data_lines_join_with_newline() -> None:
    assert feed_all([b"data: one\ndata: two\n\n"]) == [SSEEvent("one\ntwo")]


def test_event_and_id_fields() -> None:
    assert feed_all([b"event: error\nid: 7\ndata: boom\n\n"]) == [SSEEvent("boom", "error", "7")]


def test_only_one_space_after_colon_is_dropped() -> None:
    assert feed_all([b"data:  two spaces\n\ndata:none\n\n"]) == [SSEEvent(" two spaces"), SSEEvent("none")]


def test_multibyte_character_cut_between_reads() -> None:
    raw = "data: héllo ✓\n\n".encode()
    cut = raw.index("✓".encode()) + 1
    assert feed_all([raw[:cut], raw[cut:]]) == [SSEEvent("héllo ✓")]


def test_pending_event_is_delivered_at_end_of_stream() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: last") == []
    assert decoder.flush() == [SSEEvent("last")]


def test_blank_lines_without_data_dispatch_nothing() -> None:
    assert feed_all([b"\n\n\nretry: 100\n\n"]) == []


def test_empty_chunk_keeps_state() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"") == []
    assert decoder.feed(b"\n\n") == [SSEEvent("a")]


STREAM = (
    b": OPENROUTER PROCESSING\n\n"
    b'data: {"a": 1}\n\n'
    b"event: error\nid: 7\ndata: one\ndata: two\n\n"
    b"data:tight\n\n\n\n"
    b"data: caf\xc3\xa9 \xe2\x9c\x93\n\n"
    b"retry: 5\n\n"
    b"data: \n\n"
    b"data: [DONE]\n\n"
    b"data: trailing"
)


def test_the_data_path_gives_the_events_data_however_the_reads_are_cut() -> None:
    """`feed_data`'s slices and `feed`'s rules agree on every cut of a stream that mixes the common event with
    comments, fields, multi-line data, extra blank lines, multi-byte characters and an unterminated last event."""
    expected = [b'{"a": 1}', b"one\ntwo", b"tight", "café ✓".encode(), b"", b"[DONE]", b"trailing"]
    assert data_all([STREAM]) == expected
    for size in (1, 2, 3, 5, 7, 11, 16, 64):
        chunks = [STREAM[i : i + size] for i in range(0, len(STREAM), size)]
        assert data_all(chunks) == expected, size
    for cut in range(len(STREAM)):
        assert data_all([STREAM[:cut], STREAM[cut:]]) == expected, cut


def test_the_data_path_counts_comments_too() -> None:
    decoder = SSEDecoder()
    assert decoder.feed_data(b": OPENROUTER PROCESSING\n\ndata: x\n\n") == [b"x"]
    assert decoder.comments == 1


def test_a_read_of_many_one_line_events_gives_each_once() -> None:
    """The path for reads that are all `data: ` lines, and its way out when one event is written otherwise
    (no space after the colon, a second data line, a comment) or the read ends inside the next event."""
    plain = b"".join(b'data: {"n": %d}\n\n' % i for i in range(5))
    assert data_all([plain]) == [b'{"n": %d}' % i for i in range(5)]
    decoder = SSEDecoder()
    assert decoder.feed_data(plain + b'data: {"n": 5') == [b'{"n": %d}' % i for i in range(5)]
    assert decoder.feed_data(b"}\n\ndata: [DONE]\n\n") == [b'{"n": 5}', b"[DONE]"]
    for odd in (b"data:x\n\n", b"data: x\ndata: y\n\n", b": keep-alive\n\n", b"event: e\ndata: x\n\n"):
        events = feed_all([b"data: a\n\n" + odd + b"data: b\n\n"])  # `feed_data` checked against `feed` there
        assert events[0].data == "a" and events[-1].data == "b", odd


IMAGE = base64.b64encode(bytes(range(256)) * 4096)  # 1 MiB of image, as a model sends it in one `data:` line


def reads(raw: bytes, size: int = 4096) -> list[bytes]:
    return [raw[i : i + size] for i in range(0, len(raw), size)]


def test_a_long_line_in_many_small_reads_is_one_event() -> None:
    """The line's reads are kept until its end comes (LF, CRLF or CR; in the last read, the next read or split
    between them), then it is one event, and the events after it come as usual."""
    line = b"data: " + IMAGE
    for end in (b"\n", b"\r\n", b"\r"):
        raw = line + end * 2 + b"data: next" + end * 2
        for cut in range(len(line) - 1, len(line) + 2 * len(end) + 1):
            chunks = [*reads(raw[:cut]), raw[cut:]]
            assert feed_all(chunks) == [SSEEvent(IMAGE.decode()), SSEEvent("next")], (end, cut)


def test_a_long_line_still_open_at_end_of_stream_is_delivered() -> None:
    assert feed_all(reads(b"data: " + IMAGE)) == [SSEEvent(IMAGE.decode())]
