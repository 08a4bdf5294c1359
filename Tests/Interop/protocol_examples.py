#!/usr/bin/env python3
"""Every ```json example in docs/PROTOCOL.md that is a message validates against docs/schemas/rtc: requests
(a request `type` with an `id`) against client.schema.json, everything else with a `type` against
server.schema.json; examples without a `type` (the token claims) are skipped. Also a few messages that must NOT
validate, so the schemas stay strict. No server needed.

    python3 Tests/Interop/protocol_examples.py
"""

import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import starling_rtc  # noqa: E402

REQUEST_TYPES = {"join", "publish", "unpublish", "mute", "subscriberAnswer", "setSubscription", "leave", "ping"}

MUST_FAIL_CLIENT = [
    {"type": "ping"},                                                  # no id
    {"type": "ping", "id": ""},                                        # empty id
    {"type": "ping", "id": True},                                      # boolean id
    {"type": "mute", "id": 1, "trackId": "TR_1"},                      # muted missing
    {"type": "mute", "id": 1, "trackId": "TR_1", "muted": "yes"},      # wrong type
    {"type": "publish", "id": 1, "sdp": "v=0", "tracks": [{"mid": "0", "source": "webcam"}]},
    {"type": "setSubscription", "id": 1, "trackId": "TR_1", "maxSpatialLayer": 3},
    {"type": "subscriberAnswer", "id": 1, "sdp": "v=0", "revision": 0},
    {"type": "join", "id": 1, "token": "t", "tokn": "typo"},           # unknown member
    {"type": "frobnicate", "id": 1},
]
MUST_FAIL_SERVER = [
    {"type": "error", "id": 1, "error": {"code": "nope", "message": "x"}},
    {"type": "error", "id": 1, "error": {"code": "bad_json"}},
    {"type": "trackPublished", "track": {"id": "TR_1", "participantId": "PA_1", "kind": "data", "source": "camera", "muted": False}},
    {"type": "trackPublished", "track": {"id": "TR_1", "participantId": "PA_1", "kind": "video", "source": "camera"}},
    {"type": "participantLeft", "participantId": "PA_1"},
    {"type": "subscriberOffer", "sdp": "v=0\r\n", "revision": "2"},
    {"type": "connectionQuality", "participantId": "PA_1", "quality": "great"},
    {"type": "response", "id": 1},
    {"type": "somethingNew"},
]


def main():
    schemas = starling_rtc.schemas()
    text = open(os.path.join(starling_rtc.ROOT, "docs", "PROTOCOL.md")).read()
    passed = failed = 0
    for n, block in enumerate(re.findall(r"```json\n(.*?)```", text, re.S), 1):
        try:
            message = json.loads(block)
        except ValueError as e:
            print(f"FAIL example {n}: not JSON: {e}: {block[:80]!r}")
            failed += 1
            continue
        if "type" not in message:
            continue
        is_request = message["type"] in REQUEST_TYPES
        try:
            (schemas.check_client if is_request else schemas.check_server)(message)
            passed += 1
        except starling_rtc.SchemaViolation as e:
            print(f"FAIL example {n} ({message['type']}): {e}")
            failed += 1
    for message, check in [(m, schemas.check_client) for m in MUST_FAIL_CLIENT] + [(m, schemas.check_server) for m in MUST_FAIL_SERVER]:
        try:
            check(message)
            print(f"FAIL the schema accepts a wrong message: {json.dumps(message)}")
            failed += 1
        except starling_rtc.SchemaViolation:
            passed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
