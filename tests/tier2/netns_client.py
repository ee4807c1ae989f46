"""An HTTP call made from inside a test namespace; prints `{"status": .., "body": ..}` as JSON.

Run as a script: `python netns_client.py METHOD URL [JSON-BODY]`. No proxy, 10 s timeout.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request


def main() -> None:
    method, url = sys.argv[1], sys.argv[2]
    data = sys.argv[3].encode() if len(sys.argv) > 3 else None
    request = urllib.request.Request(  # noqa: S310 - test namespaces only
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    except OSError as error:
        print(json.dumps({"status": 0, "body": str(error)}))
        return
    text = raw.decode("utf-8", "replace")
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = text
    print(json.dumps({"status": status, "body": body}))


if __name__ == "__main__":
    main()
