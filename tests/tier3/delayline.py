"""A userspace delay line for kernels without `tc netem`: a TUN device that holds packets back.

Run inside a namespace as `python -m tests.tier3.delayline --interface dly0 --delay-ms 40`.
Packets routed into the TUN device are sent on, `--delay-ms` later, through a raw
socket carrying firewall mark 1; a policy rule (`fwmark 1 lookup main`) sends them
out the ordinary way, so they do not loop back into the delay line.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import heapq
import json
import os
import select
import signal
import socket
import struct
import sys
import time
from types import FrameType

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
MARK = 1
MAX_PACKET = 65535
MAX_QUEUE = 10000


def open_tun(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def run(name: str, delay: float, max_runtime: float) -> int:
    stopping = False

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    tun = open_tun(name)
    sender = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    sender.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, MARK)
    queue: list[tuple[float, int, bytes]] = []
    sequence = 0
    deadline = time.monotonic() + max_runtime
    print(json.dumps({"event": "ready", "interface": name}), flush=True)
    try:
        while not stopping and time.monotonic() < deadline:
            now = time.monotonic()
            while queue and queue[0][0] <= now:
                _, _, packet = heapq.heappop(queue)
                if len(packet) >= 20 and packet[0] >> 4 == 4:
                    destination = socket.inet_ntoa(packet[16:20])
                    with contextlib.suppress(OSError):  # dropped, as on a lossy link
                        sender.sendto(packet, (destination, 0))
            wait = min(queue[0][0] - now, 0.5) if queue else 0.5
            try:
                readable, _, _ = select.select([tun], [], [], max(wait, 0.0))
            except InterruptedError:
                continue
            if readable and len(queue) < MAX_QUEUE:
                packet = os.read(tun, MAX_PACKET)
                sequence += 1
                heapq.heappush(queue, (time.monotonic() + delay, sequence, packet))
    finally:
        sender.close()
        os.close(tun)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="delayline", description=__doc__)
    parser.add_argument("--interface", required=True)
    parser.add_argument("--delay-ms", type=float, required=True)
    parser.add_argument("--max-runtime", type=float, default=300.0)
    args = parser.parse_args()
    return run(args.interface, args.delay_ms / 1000.0, args.max_runtime)


if __name__ == "__main__":
    sys.exit(main())
