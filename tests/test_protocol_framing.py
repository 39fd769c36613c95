"""Frames: length prefix, size limit checked before the body, clean errors."""

import datetime
import socket
import struct
import threading

import msgpack
import pytest

from protocol.errors import FrameTooLarge, TruncatedFrame, UndecodableFrame
from protocol.framing import FrameDecoder, encode_frame


def test_a_frame_is_a_big_endian_length_then_a_msgpack_map():
    frame = encode_frame({"jsonrpc": "2.0", "method": "m"})
    (size,) = struct.unpack(">I", frame[:4])
    assert size == len(frame) - 4
    assert msgpack.unpackb(frame[4:]) == {"jsonrpc": "2.0", "method": "m"}


def test_messages_split_across_reads_are_reassembled():
    frames = encode_frame({"id": 1}) + encode_frame({"id": 2})
    decoder = FrameDecoder()
    got = []
    for i in range(len(frames)):
        got.extend(decoder.feed(frames[i : i + 1]))
    assert got == [{"id": 1}, {"id": 2}]
    assert decoder.idle


def test_an_oversize_frame_is_refused_from_its_header_alone():
    decoder = FrameDecoder(max_frame_size=1024)
    with pytest.raises(FrameTooLarge, match="1025 bytes exceeds the maximum frame size of 1024"):
        list(decoder.feed(struct.pack(">I", 1025)))


def test_the_sender_refuses_to_build_a_frame_the_peer_must_reject():
    with pytest.raises(FrameTooLarge):
        encode_frame({"data": "x" * 2000}, max_frame_size=1000)


def test_a_stream_ending_inside_a_frame_is_a_truncated_frame():
    frame = encode_frame({"id": 1, "data": "abcdef"})
    decoder = FrameDecoder()
    assert list(decoder.feed(frame[:-3])) == []
    with pytest.raises(TruncatedFrame, match="expected"):
        decoder.close()


def test_a_stream_ending_inside_a_header_is_a_truncated_frame():
    decoder = FrameDecoder()
    list(decoder.feed(b"\x00\x00"))
    with pytest.raises(TruncatedFrame):
        decoder.close()


def test_garbage_bytes_are_an_undecodable_frame():
    decoder = FrameDecoder()
    body = b"\xc1\xc1\xc1"  # 0xc1 is never valid msgpack
    with pytest.raises(UndecodableFrame, match="not valid msgpack"):
        list(decoder.feed(struct.pack(">I", len(body)) + body))


def test_a_body_that_is_not_a_map_is_an_undecodable_frame():
    body = msgpack.packb([1, 2, 3])
    with pytest.raises(UndecodableFrame, match="must be a msgpack map"):
        list(FrameDecoder().feed(struct.pack(">I", len(body)) + body))


def test_datetimes_and_bytes_survive_the_wire():
    naive = datetime.datetime(2026, 11, 22, 12, 0, 1, 5)
    aware = datetime.datetime(2026, 11, 22, 12, 0, tzinfo=datetime.UTC)
    [message] = list(FrameDecoder().feed(encode_frame({"a": naive, "b": aware, "c": b"\x00\xff"})))
    assert message == {"a": naive, "b": aware, "c": b"\x00\xff"}


def test_a_ten_megabyte_frame_crosses_a_real_socket():
    left, right = socket.socketpair()
    payload = {"blob": b"x" * (10 * 1024 * 1024)}
    sender = threading.Thread(target=lambda: left.sendall(encode_frame(payload)))
    sender.start()
    decoder = FrameDecoder(max_frame_size=11 * 1024 * 1024)
    got = []
    while not got:
        got.extend(decoder.feed(right.recv(1 << 20)))
    sender.join()
    assert got[0]["blob"] == payload["blob"]
