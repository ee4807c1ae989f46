"""Filter `client-networks`: the cloudlet accepts the client (ANY accepted, NONE rejected)."""

from __future__ import annotations

from typing import ClassVar

from tier1.netmatch import any_contains
from tier1.records import CloudletRecord
from tier1.selection.interface import SUCCESS, CycleState, SelectionRequest, Status, rejected
from tier1.selection.plugins.args import NoArgs


class ClientNetworks:
    """IPv4 and IPv6 alike. Without a client address, only cloudlets that accept anyone pass."""

    NAME: ClassVar[str] = "client-networks"
    Args = NoArgs

    def __init__(self, args: NoArgs) -> None:
        del args

    def filter(self, state: CycleState, request: SelectionRequest, site: CloudletRecord) -> Status:
        address = request.client.address_key
        if address is None:
            if any(prefixlen == 0 for _, _, prefixlen in site.accepted_clients):
                return SUCCESS
            return rejected(self.NAME, "client address unknown and the cloudlet restricts clients")
        if any_contains(site.rejected_clients, address):
            return rejected(self.NAME, "client network is rejected")
        if not any_contains(site.accepted_clients, address):
            return rejected(self.NAME, "client network is not accepted")
        return SUCCESS
