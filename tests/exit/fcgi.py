"""A minimal FastCGI client (stdlib only) for the php-fpm exit test:
`python3 fcgi.py SOCKET SCRIPT [QUERY]` sends one GET request to the php-fpm
pool listening on SOCKET and prints the response body (headers dropped).
Exits 1 when php-fpm wrote to its FastCGI stderr or ended the request with a
non-zero status."""

import socket
import struct
import sys

BEGIN, END, PARAMS, STDIN, STDOUT, STDERR = 1, 3, 4, 5, 6, 7


def record(kind: int, body: bytes, request: int = 1) -> bytes:
    return struct.pack(">BBHHBB", 1, kind, request, len(body), 0, 0) + body


def pair(name: str, value: str) -> bytes:
    def length(n: int) -> bytes:
        return bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)

    n, v = name.encode(), value.encode()
    return length(len(n)) + length(len(v)) + n + v


def main() -> int:
    sock_path, script = sys.argv[1], sys.argv[2]
    query = sys.argv[3] if len(sys.argv) > 3 else ""
    params = {
        "SCRIPT_FILENAME": script,
        "SCRIPT_NAME": "/" + script.rsplit("/", 1)[-1],
        "REQUEST_METHOD": "GET",
        "QUERY_STRING": query,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "GATEWAY_INTERFACE": "CGI/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
    }
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(60)
    s.connect(sock_path)
    body = b"".join(pair(k, v) for k, v in params.items())
    s.sendall(record(BEGIN, struct.pack(">HB5x", 1, 0)) + record(PARAMS, body) + record(PARAMS, b"") + record(STDIN, b""))
    out, err, status = b"", b"", None
    buf = b""
    while status is None:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
        while len(buf) >= 8:
            _, kind, _, clen, plen, _ = struct.unpack(">BBHHBB", buf[:8])
            if len(buf) < 8 + clen + plen:
                break
            content, buf = buf[8 : 8 + clen], buf[8 + clen + plen :]
            if kind == STDOUT:
                out += content
            elif kind == STDERR:
                err += content
            elif kind == END:
                status = struct.unpack(">I", content[:4])[0]
    s.close()
    sys.stdout.write(out.split(b"\r\n\r\n", 1)[-1].decode(errors="replace"))
    if err:
        sys.stderr.write(err.decode(errors="replace"))
    return 0 if status == 0 and not err else 1


if __name__ == "__main__":
    sys.exit(main())
