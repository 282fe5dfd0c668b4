"""An answer given before the app read the whole body says `Connection: close` when the
server is going to close the connection (the rest of the body is still to come), and
`keep-alive` only when it keeps it. Real `wfobj serve` (gunicorn), raw sockets."""

from __future__ import annotations

import socket

import pytest

from tests.support_e2e import served

pytestmark = pytest.mark.slow

MAX_UPLOAD = 1 << 20


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    yield from served(tmp_path_factory.mktemp("close"), workers=1,
                      env={"WFOBJ_MAX_UPLOAD": str(MAX_UPLOAD)})


def connect(server) -> socket.socket:
    host, port = server.url.rsplit("//", 1)[1].split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def read_head(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """(status, {lower-case header: value}, what came after the head)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed before a whole head: {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, rest


def closes(sock: socket.socket) -> bool:
    """True once the server closes its side (EOF or reset) within the socket's timeout."""
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    except TimeoutError:
        return False
    return True


def upload_head(server, extra: str) -> bytes:
    return (f"POST /api/objects HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {server.tokens['runner']}\r\n"
            f"Content-Type: application/octet-stream\r\n{extra}\r\n").encode()


def test_a_413_on_a_declared_length_says_close_and_closes(server):
    sock = connect(server)
    sock.sendall(upload_head(server, f"Content-Length: {100 * MAX_UPLOAD}\r\n"))
    sock.sendall(b"\0" * 4096)  # most of the body is still to come
    status, headers, _ = read_head(sock)
    assert status == 413
    assert headers["connection"] == "close"
    assert closes(sock)


def test_a_413_part_way_through_a_chunked_upload_says_close_and_closes(server):
    sock = connect(server)
    sock.sendall(upload_head(server, "Transfer-Encoding: chunked\r\n"))
    chunk = b"%x\r\n" % 65536 + b"\0" * 65536 + b"\r\n"
    try:
        for _ in range(4 * MAX_UPLOAD // 65536):  # past the limit, and never a last chunk
            sock.sendall(chunk)
    except OSError:
        pass  # the server answered and stopped reading, or closed, while we sent
    status, headers, _ = read_head(sock)
    assert status == 413
    assert headers["connection"] == "close"
    assert closes(sock)


def test_an_answer_whose_small_body_has_all_come_keeps_the_connection(server):
    sock = connect(server)
    request = (b"POST /api/objects HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
    sock.sendall(request)  # no token: 401 without reading the body
    status, headers, rest = read_head(sock)
    assert status == 401
    assert headers["connection"] == "keep-alive"
    length = int(headers["content-length"])
    while len(rest) < length:
        rest += sock.recv(65536)
    sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert read_head(sock)[0] == 200
