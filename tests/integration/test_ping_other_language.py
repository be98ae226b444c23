#!/usr/bin/env python3
"""test_ping_other_language.py - a MessagePack-RPC client in another language.

Shows that noormd speaks plain MessagePack-RPC to any client: this one uses
only the Python standard library, encodes [0, 1, "server.ping", [{}]] by hand
and decodes the answer with a small hand-written MessagePack reader.

Usage: python3 test_ping_other_language.py <path to noormd-test>
Starts the server in a private temporary directory, pings it, checks the
answer is [1, 1, nil, "pong"], stops it with SIGTERM and checks it exits 0.
Prints one PASS or FAIL line; the exit status is 0 only on PASS.
"""

import os
import select
import signal
import socket
import struct
import base64
import subprocess
import sys
import tempfile
import time

TIMEOUT_S = 10.0


class Incomplete(Exception):
    """The bytes end before the MessagePack object does."""


def encode_ping(msgid):
    """[0, msgid, "server.ping", [{}]] for a msgid below 128."""
    method = b"server.ping"
    return (bytes([0x94, 0x00, msgid, 0xA0 | len(method)]) + method
            + bytes([0x91, 0x80]))


def decode(buf, pos=0):
    """Decodes one MessagePack object at buf[pos:]; returns (value, next pos).

    Covers the types a server.ping answer or a server.error notification can
    use: nil, booleans, integers, floats, str, bin, arrays and maps.
    """

    def need(n):
        if pos + n > len(buf):
            raise Incomplete()

    need(1)
    b = buf[pos]
    pos += 1
    if b <= 0x7F:
        return b, pos
    if b >= 0xE0:
        return b - 0x100, pos
    if 0xA0 <= b <= 0xBF:
        n = b & 0x1F
        need(n)
        return buf[pos:pos + n].decode("utf-8"), pos + n
    if 0x90 <= b <= 0x9F:
        return decode_items(buf, pos, b & 0x0F, False)
    if 0x80 <= b <= 0x8F:
        return decode_items(buf, pos, b & 0x0F, True)
    if b == 0xC0:
        return None, pos
    if b in (0xC2, 0xC3):
        return b == 0xC3, pos
    fixed = {0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q",
             0xD0: ">b", 0xD1: ">h", 0xD2: ">i", 0xD3: ">q",
             0xCA: ">f", 0xCB: ">d"}
    if b in fixed:
        size = struct.calcsize(fixed[b])
        need(size)
        return struct.unpack_from(fixed[b], buf, pos)[0], pos + size
    lengths = {0xD9: (">B", "str"), 0xDA: (">H", "str"), 0xDB: (">I", "str"),
               0xC4: (">B", "bin"), 0xC5: (">H", "bin"), 0xC6: (">I", "bin"),
               0xDC: (">H", "array"), 0xDD: (">I", "array"),
               0xDE: (">H", "map"), 0xDF: (">I", "map")}
    if b in lengths:
        fmt, kind = lengths[b]
        size = struct.calcsize(fmt)
        need(size)
        n = struct.unpack_from(fmt, buf, pos)[0]
        pos += size
        if kind in ("array", "map"):
            return decode_items(buf, pos, n, kind == "map")
        need(n)
        raw = bytes(buf[pos:pos + n])
        return (raw.decode("utf-8") if kind == "str" else raw), pos + n
    raise ValueError("unsupported MessagePack type byte 0x%02x" % b)


def decode_items(buf, pos, count, is_map):
    """Decodes `count` array elements (or map pairs when is_map)."""
    if is_map:
        out = {}
        for _ in range(count):
            key, pos = decode(buf, pos)
            out[key], pos = decode(buf, pos)
        return out, pos
    items = []
    for _ in range(count):
        item, pos = decode(buf, pos)
        items.append(item)
    return items, pos


def read_message(sock, deadline):
    """Reads until one whole MessagePack object has arrived; returns it."""
    buf = b""
    while True:
        if buf:
            try:
                value, _ = decode(buf)
                return value
            except Incomplete:
                pass
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no complete answer within %.0f s" % TIMEOUT_S)
        ready, _, _ = select.select([sock], [], [], left)
        if not ready:
            continue
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        buf += chunk


def wait_for_socket(path, proc, deadline):
    """Connects once the server listens; fails if it exits first."""
    while True:
        if proc.poll() is not None:
            raise RuntimeError("the server exited with %d before listening"
                               % proc.returncode)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(path)
            return sock
        except OSError:
            sock.close()
        if time.monotonic() > deadline:
            raise TimeoutError("the server did not listen within %.0f s"
                               % TIMEOUT_S)
        time.sleep(0.01)


def run(binary, workdir):
    sock_path = os.path.join(workdir, "noormd.sock")
    log_path = os.path.join(workdir, "noormd.log")
    with open(log_path, "wb") as log:
        # The master key comes from the environment here (base64 of 32
        # bytes); noormd removes it from its own environment once loaded.
        env = dict(os.environ, NOORMME_KEY=base64.b64encode(os.urandom(32)).decode())
        env.pop("NOORMME_KEY_FILE", None)
        proc = subprocess.Popen(
            [binary, "--socket", sock_path,
             "--db", os.path.join(workdir, "noormd.db")],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=workdir, env=env)
    try:
        deadline = time.monotonic() + TIMEOUT_S
        sock = wait_for_socket(sock_path, proc, deadline)
        with sock:
            sock.sendall(encode_ping(1))
            answer = read_message(sock, time.monotonic() + TIMEOUT_S)
        if answer != [1, 1, None, "pong"]:
            raise AssertionError("expected [1, 1, nil, \"pong\"], got %r"
                                 % (answer,))
        proc.send_signal(signal.SIGTERM)
        status = proc.wait(timeout=TIMEOUT_S)
        if status != 0:
            raise AssertionError("exit status %d after SIGTERM (want 0)"
                                 % status)
        if os.path.exists(sock_path):
            raise AssertionError("the socket file outlived the server")
        return answer
    except BaseException:
        with open(log_path, "rb") as log:
            sys.stderr.write("---- server log ----\n%s---- end ----\n"
                             % log.read().decode("utf-8", "replace"))
        raise
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=TIMEOUT_S)


def main(argv):
    if len(argv) != 2:
        print("usage: %s <path to noormd-test>" % argv[0], file=sys.stderr)
        return 2
    # A short private directory: the socket path must fit in sun_path.
    with tempfile.TemporaryDirectory(prefix="noormd-py-", dir="/tmp") as d:
        os.chmod(d, 0o700)
        try:
            answer = run(argv[1], d)
        except Exception as e:  # report any failure as one clear line
            print("FAIL: ping from Python: %s: %s" % (type(e).__name__, e))
            return 1
    print("PASS: a stdlib-only Python client got %r and the server "
          "exited 0 on SIGTERM" % (answer,))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
