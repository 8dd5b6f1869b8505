"""Serve a folder over HTTP on 127.0.0.1 (a free port): prints the URL, then serves until killed.

Usage: python3 testbed/serve.py DIR   (the test bed's Julia mirror, for the demo)
"""

import functools
import http.server
import sys


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


def main(folder: str) -> None:
    handler = functools.partial(QuietHandler, directory=folder)
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1])
