"""Signs LiveKit webhook bodies with LiveKit's own server SDK (livekit-api).

Reads one JSON object per line on stdin: {"key", "secret", "body"}; writes
the Authorization header's value (the JWT) for each, one per line, after
checking it with the SDK's own WebhookReceiver.
"""
import base64
import datetime
import hashlib
import json
import sys

from livekit import api

for line in sys.stdin:
    request = json.loads(line)
    body = request["body"]
    digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
    token = (
        api.AccessToken(request["key"], request["secret"])
        .with_sha256(digest)
        .with_ttl(datetime.timedelta(minutes=5))
        .to_jwt()
    )
    api.WebhookReceiver(api.TokenVerifier(request["key"], request["secret"])).receive(body, token)
    print(token, flush=True)
