// k6: virtual users that verify and refresh like real clients.
//
// Each virtual user takes one line of a seed's NDJSON (`tessera load seed`,
// or POST /api/v1/admin/load/seed) and keeps that session's rotation chain
// to itself: it verifies with its current access token, and refreshes when
// the token nears expiry and every REFRESH_EVERY requests besides, always
// with the refresh token the last refresh returned. VU n takes line n, so
// run at most as many VUs as there are lines (a shared chain would present
// a rotated token, which the service rightly treats as theft).
//
//   k6 run -e BASE_URL=http://127.0.0.1:8000 -e SEED_FILE=seed.ndjson \
//          --vus 100 --duration 60s k6.js

import http from "k6/http";
import { check, fail } from "k6";
import encoding from "k6/encoding";
import { SharedArray } from "k6/data";

const BASE_URL = __ENV.BASE_URL || "http://127.0.0.1:8000";
const REFRESH_EVERY = Number(__ENV.REFRESH_EVERY || 10);
// Refresh when the access token has fewer seconds than this left.
const EXPIRY_MARGIN_SECS = 30;

const lines = new SharedArray("seeded sessions", () =>
  open(__ENV.SEED_FILE || "seed.ndjson")
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line)),
);

export const options = {
  thresholds: {
    // Any failed verify or refresh fails the run.
    http_req_failed: ["rate==0"],
    checks: ["rate==1"],
  },
};

function expiresAt(accessToken) {
  const claims = JSON.parse(encoding.b64decode(accessToken.split(".")[1], "rawurl", "s"));
  return claims.exp;
}

// Module state is per VU in k6: this VU's place in its rotation chain.
let session = null;
let requests = 0;

export default function () {
  if (session === null) {
    const line = lines[__VU - 1];
    if (line === undefined) {
      fail(`no seeded session for VU ${__VU}: seed at least as many sessions as VUs`);
    }
    session = {
      access: line.access_token,
      refresh: line.refresh_token,
      expiresAt: expiresAt(line.access_token),
    };
  }
  requests += 1;
  const nearExpiry = session.expiresAt - Date.now() / 1000 < EXPIRY_MARGIN_SECS;
  if (nearExpiry || requests % REFRESH_EVERY === 0) {
    const response = http.post(
      `${BASE_URL}/api/v1/auth/refresh`,
      JSON.stringify({ refresh_token: session.refresh }),
      { headers: { "Content-Type": "application/json" }, tags: { name: "refresh" } },
    );
    if (check(response, { "refresh is 200": (r) => r.status === 200 })) {
      const pair = response.json();
      session = {
        access: pair.access_token,
        refresh: pair.refresh_token,
        expiresAt: expiresAt(pair.access_token),
      };
    }
  } else {
    const response = http.get(`${BASE_URL}/api/v1/auth/verify`, {
      headers: { Authorization: `Bearer ${session.access}` },
      tags: { name: "verify" },
    });
    check(response, { "verify is 200": (r) => r.status === 200 });
  }
}
