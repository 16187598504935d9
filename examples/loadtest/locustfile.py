"""Locust: virtual users that verify and refresh like real clients.

Each virtual user takes one line of a seed's NDJSON (`tessera load seed`,
or `POST /api/v1/admin/load/seed`) and keeps that session's rotation chain
to itself: it verifies with its current access token, and refreshes when
the token nears expiry and now and then besides (--refresh-share of its
requests), always with the refresh token the last refresh returned. Two
virtual users never share a line (a shared chain would present a rotated
token, which the service rightly treats as theft); when the lines run out,
further virtual users stop at once with a message.

    locust -f locustfile.py --host http://127.0.0.1:8000 --seed-file seed.ndjson

Without --seed-file, the file named by TESSERA_SEED_FILE is read.
"""

import base64
import json
import os
import time

from locust import FastHttpUser, between, events, task
from locust.exception import StopUser

# Refresh when the access token has fewer seconds than this left.
EXPIRY_MARGIN_SECS = 30


@events.init_command_line_parser.add_listener
def _add_arguments(parser):
    parser.add_argument(
        "--seed-file",
        default=os.environ.get("TESSERA_SEED_FILE", ""),
        help="NDJSON from `tessera load seed` (one line per session)",
    )
    parser.add_argument(
        "--refresh-share",
        type=float,
        default=0.1,
        help="share of requests that refresh although the token is still fresh",
    )


class Lines:
    """The seed's lines, each handed to one virtual user only."""

    lines = None
    next = 0

    @classmethod
    def take(cls, path):
        if cls.lines is None:
            with open(path, encoding="utf-8") as seed:
                cls.lines = [json.loads(line) for line in seed if line.strip()]
        if cls.next >= len(cls.lines):
            return None
        line = cls.lines[cls.next]
        cls.next += 1
        return line


def expires_at(access_token):
    """The `exp` claim, read without verifying (the server verifies)."""
    payload = access_token.split(".")[1]
    payload += "=" * (-len(payload) % 4)
    return json.loads(base64.urlsafe_b64decode(payload))["exp"]


class SeededSession(FastHttpUser):
    wait_time = between(0.01, 0.05)

    def on_start(self):
        options = self.environment.parsed_options
        line = Lines.take(options.seed_file)
        if line is None:
            print("tessera: no seeded session left for this virtual user; seed more")
            raise StopUser()
        self.refresh_share = options.refresh_share
        self.tag = line["tag"]
        self.access = line["access_token"]
        self.refresh_token = line["refresh_token"]
        self.expires_at = expires_at(self.access)
        self.requests = 0

    @task
    def use_the_session(self):
        self.requests += 1
        near_expiry = self.expires_at - time.time() < EXPIRY_MARGIN_SECS
        due = self.requests * self.refresh_share >= 1
        if near_expiry or due:
            self.requests = 0
            self.rotate()
        else:
            self.verify()

    def verify(self):
        with self.client.get(
            "/api/v1/auth/verify",
            headers={"Authorization": f"Bearer {self.access}"},
            name="verify",
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"verify answered {response.status_code}")

    def rotate(self):
        with self.client.post(
            "/api/v1/auth/refresh",
            json={"refresh_token": self.refresh_token},
            name="refresh",
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"refresh answered {response.status_code}")
                return
            pair = response.json()
            self.access = pair["access_token"]
            self.refresh_token = pair["refresh_token"]
            self.expires_at = expires_at(self.access)
