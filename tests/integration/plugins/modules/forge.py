"""Forged TCP SYNs for the integration tests: an attacker's packets "from" someone else's address.

Run inside a network namespace:  python forge.py IFACE DEST_MAC SOURCE DEST PORT COUNT
Builds whole Ethernet frames (AF_PACKET), so any source address, IPv4 or IPv6, can be claimed.
No handshake can follow: the answer goes to the claimed source, not to us.
"""

import ipaddress
import random
import socket
import struct
import sys


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def syn_segment(source, dest, port, pseudo_header):
    sport, seq = random.randint(20000, 60000), random.getrandbits(32)
    header = struct.pack("!HHIIBBHHH", sport, port, seq, 0, 5 << 4, 0x02, 64240, 0, 0)
    value = checksum(pseudo_header + header)
    return header[:16] + struct.pack("!H", value) + header[18:]


def frame(source, dest, port, source_mac, dest_mac):
    src, dst = ipaddress.ip_address(source), ipaddress.ip_address(dest)
    if src.version == 4:
        segment = syn_segment(src, dst, port, src.packed + dst.packed + struct.pack("!BBH", 0, 6, 20))
        header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, random.getrandbits(16), 0x4000, 64, 6, 0, src.packed, dst.packed)
        header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
        return dest_mac + source_mac + b"\x08\x00" + header + segment
    segment = syn_segment(src, dst, port, src.packed + dst.packed + struct.pack("!I3xB", 20, 6))
    header = struct.pack("!IHBB16s16s", 6 << 28, 20, 6, 64, src.packed, dst.packed)
    return dest_mac + source_mac + b"\x86\xdd" + header + segment


def main():
    interface, dest_mac, source, dest, port, count = sys.argv[1:7]
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as raw:
        raw.bind((interface, 0))
        source_mac = raw.getsockname()[4]
        for dummy in range(int(count)):
            raw.send(frame(source, dest, int(port), source_mac, bytes.fromhex(dest_mac.replace(":", ""))))


if __name__ == "__main__":
    main()
