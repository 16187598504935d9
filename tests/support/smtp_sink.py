#!/usr/bin/env python3
"""A tiny SMTP server for tests (standard library only).

Listens on 127.0.0.1 at a free port, prints "PORT <n>" on stdout once it is
ready, and writes every message it accepts to DIR/<n>.eml: the envelope as
X-Sink-Mail-From / X-Sink-Rcpt-To lines, then the message as received.
Speaks EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP and QUIT; no TLS, no AUTH.

  smtp_sink.py DIR [--fail-first N] [--greeting-delay-ms MS]

--fail-first N        answer the first N messages' DATA with 451 (transient)
--greeting-delay-ms   wait this long before greeting each connection (a slow
                      server)
"""

import argparse
import asyncio
import itertools
import os
import sys


class Sink:
    def __init__(self, directory, fail_first, greeting_delay):
        self.directory = directory
        self.failures_left = fail_first
        self.greeting_delay = greeting_delay
        self.counter = itertools.count(1)

    def store(self, mail_from, recipients, data):
        number = next(self.counter)
        envelope = f"X-Sink-Mail-From: {mail_from}\r\n" + "".join(
            f"X-Sink-Rcpt-To: {r}\r\n" for r in recipients
        )
        temporary = os.path.join(self.directory, f".{number}.tmp")
        with open(temporary, "wb") as out:
            out.write(envelope.encode() + data)
        # A reader never sees a half-written message.
        os.rename(temporary, os.path.join(self.directory, f"{number}.eml"))

    async def session(self, reader, writer):
        async def reply(line):
            writer.write(line.encode() + b"\r\n")
            await writer.drain()

        try:
            if self.greeting_delay:
                await asyncio.sleep(self.greeting_delay)
            await reply("220 smtp-sink ready")
            mail_from, recipients = None, []
            while True:
                line = await reader.readline()
                if not line:
                    return
                command = line.decode(errors="replace").rstrip("\r\n")
                verb = command[:4].upper()
                if verb == "EHLO":
                    await reply("250-smtp-sink")
                    await reply("250-8BITMIME")
                    await reply("250 SMTPUTF8")
                elif verb == "HELO":
                    await reply("250 smtp-sink")
                elif verb == "MAIL":
                    mail_from, recipients = command[10:].strip(), []
                    await reply("250 OK")
                elif verb == "RCPT":
                    if mail_from is None:
                        await reply("503 MAIL first")
                    else:
                        recipients.append(command[8:].strip())
                        await reply("250 OK")
                elif verb == "DATA":
                    if not recipients:
                        await reply("503 RCPT first")
                        continue
                    await reply("354 End data with <CR><LF>.<CR><LF>")
                    lines = []
                    while True:
                        data_line = await reader.readline()
                        if not data_line or data_line in (b".\r\n", b".\n"):
                            break
                        if data_line.startswith(b".."):
                            data_line = data_line[1:]
                        lines.append(data_line)
                    if self.failures_left > 0:
                        self.failures_left -= 1
                        await reply("451 Try again later")
                    else:
                        self.store(mail_from, recipients, b"".join(lines))
                        await reply("250 OK queued")
                    mail_from, recipients = None, []
                elif verb == "RSET":
                    mail_from, recipients = None, []
                    await reply("250 OK")
                elif verb == "NOOP":
                    await reply("250 OK")
                elif verb == "QUIT":
                    await reply("221 Bye")
                    return
                else:
                    await reply("502 Command not implemented")
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory")
    parser.add_argument("--fail-first", type=int, default=0)
    parser.add_argument("--greeting-delay-ms", type=int, default=0)
    args = parser.parse_args()
    os.makedirs(args.directory, exist_ok=True)
    sink = Sink(args.directory, args.fail_first, args.greeting_delay_ms / 1000)
    server = await asyncio.start_server(sink.session, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
