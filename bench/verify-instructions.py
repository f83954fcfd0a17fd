"""Sends N keep-alive POST /v1/verify requests over one connection.

Used by bench/verify-instructions.sh; exits non-zero on any answer that is
not a valid verdict, so a broken set-up is never counted as fast.
"""
import http.client
import json
import os
import sys

port, count = int(sys.argv[1]), int(sys.argv[2])
body = json.dumps({"token": os.environ["KW_TOKEN"], "required_scopes": ["invoices:read"]})
headers = {"Content-Type": "application/json", "Authorization": "Bearer " + os.environ["KW_ADMIN"]}
connection = http.client.HTTPConnection("127.0.0.1", port)
for _ in range(count):
    connection.request("POST", "/v1/verify", body, headers)
    response = connection.getresponse()
    answer = response.read()
    if response.status != 200 or b'"valid":true' not in answer:
        print(response.status, answer[:200], file=sys.stderr)
        sys.exit(1)
