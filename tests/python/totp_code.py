"""TOTP codes made by an independent implementation (pyotp), for
tests/mfa.rs: the otpauth:// URI tessera showed is parsed by pyotp, as an
authenticator app would scan it, and its codes computed at given times.

usage: totp_code.py <otpauth URI> <unix time>...
Prints one 6-digit code per time, one per line.
"""
import sys

import pyotp

totp = pyotp.parse_uri(sys.argv[1])
assert isinstance(totp, pyotp.TOTP), "not a TOTP URI"
assert totp.digits == 6 and totp.interval == 30, (totp.digits, totp.interval)
for at in sys.argv[2:]:
    print(totp.at(int(at)))
