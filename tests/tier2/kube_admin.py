"""Plain JSON reads and writes against the test cluster as its admin, for assertions and set-up.

Independent of ST-2's own client code, so tests do not check ST-2 with itself.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from typing import Any

from tests.harness.kubernetes_cluster import KubernetesCluster

TIMEOUT = 10.0


class KubeAdmin:
    def __init__(self, cluster: KubernetesCluster, token: str | None = None) -> None:
        self._server = cluster.server
        self._token = cluster.token if token is None else token
        self._context = ssl.create_default_context(cafile=str(cluster.ca_path))
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=self._context)
        )

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """`(status, JSON body)`; HTTP errors are returned, not raised."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - https to the test cluster only
            self._server + path,
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self._token}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        )
        try:
            with self._opener.open(request, timeout=TIMEOUT) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def get(self, path: str) -> Any:
        status, document = self.request("GET", path)
        if status != 200:
            raise LookupError(f"GET {path}: {status} {document}")
        return document

    def exists(self, path: str) -> bool:
        return self.request("GET", path)[0] == 200

    def live_namespaces(self, selector: str) -> list[str]:
        """Names of namespaces matching `selector` that are not being deleted."""
        items = self.get(f"/api/v1/namespaces?labelSelector={selector}")["items"]
        return [
            item["metadata"]["name"]
            for item in items
            if not item["metadata"].get("deletionTimestamp")
        ]

    def deleting(self, namespace: str) -> bool:
        """The namespace is gone or on its way out."""
        status, document = self.request("GET", f"/api/v1/namespaces/{namespace}")
        if status == 404:
            return True
        return bool(document["metadata"].get("deletionTimestamp"))
