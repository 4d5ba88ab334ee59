#!/usr/bin/env python3
"""Small libpcap-file rewriter for the capture fixtures (standard library only).

Commands (IN and OUT are classic pcap files, format per
draft-ietf-opsawg-pcap; link types per https://www.tcpdump.org/linktypes.html):

  macs IN OUT CLIENT_IP...   Ethernet: give frames from a client address the
                             client MAC 02:00:5e:10:00:07 and the gateway MAC
                             02:00:5e:10:00:01 as destination, and the reverse
                             for all other frames (loopback captures carry
                             all-zero MACs).
  to-eth IN OUT              LINUX_SLL (113) or LINUX_SLL2 (276) to Ethernet
                             (1), keeping the protocol type, so that
                             tcprewrite (which cannot rewrite addresses
                             inside SLL/SLL2) can process the frames.
  restore ORIG ETH OUT       put the cooked headers of ORIG back in front of
                             the network-layer bytes of ETH (same frames,
                             same order), keeping ETH's timestamps.
  relink IN OUT KIND         Ethernet to KIND:
                               raw   LINKTYPE_RAW (101), no link header
                               null  LINKTYPE_NULL (0), 4-byte address family
                                     in the file's byte order (little-endian
                                     here): 2 = IPv4, 30 = IPv6 (macOS value)
                               loop  LINKTYPE_LOOP (108), 4-byte family in
                                     network byte order: 2 = IPv4, 24 = IPv6
                                     (OpenBSD value)
                               vlan  Ethernet with an 802.1Q tag (TPID 0x8100,
                                     VID 77) after the MAC addresses
                               qinq  Ethernet with an 802.1ad S-tag (TPID
                                     0x88a8, VID 100) then an 802.1Q C-tag
                                     (TPID 0x8100, VID 77)
  bigendian IN OUT           same packets, file header and record headers
                             written big-endian (magic a1 b2 c3 d4 on disk)
  v6frag IN OUT OLD=NEW...   Ethernet: rewrite the addresses of IPv6 packets
                             that carry a Fragment header (RFC 8200 section
                             4.5), which tcprewrite --pnat leaves unchanged,
                             and update the UDP/TCP checksum in the first
                             fragment incrementally (RFC 1624), as the
                             pseudo-header holds the addresses.
  fix-icmpv6 IN OUT          Ethernet: recompute ICMPv6 checksums (RFC 4443
                             section 2.3, pseudo-header of RFC 8200 section
                             8.1), which tcprewrite --fixcsum leaves stale
                             after an address change.
"""
import struct
import sys

LT_NULL, LT_EN10MB, LT_RAW, LT_LOOP, LT_SLL, LT_SLL2 = 0, 1, 101, 108, 113, 276
CLIENT_MAC = bytes.fromhex("02005e100007")
GATEWAY_MAC = bytes.fromhex("02005e100001")


def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = data[:4]
    table = {
        b"\xd4\xc3\xb2\xa1": ("<", False),
        b"\xa1\xb2\xc3\xd4": (">", False),
        b"\x4d\x3c\xb2\xa1": ("<", True),
        b"\xa1\xb2\x3c\x4d": (">", True),
    }
    if magic not in table:
        raise SystemExit("%s: not a classic pcap file" % path)
    end, nsec = table[magic]
    _maj, _min, _tz, _sig, snaplen, linktype = struct.unpack(end + "HHiIII", data[4:24])
    recs, off = [], 24
    while off < len(data):
        sec, frac, incl, orig = struct.unpack(end + "IIII", data[off : off + 16])
        recs.append([sec, frac, orig, data[off + 16 : off + 16 + incl]])
        off += 16 + incl
    return {"nsec": nsec, "snaplen": snaplen, "linktype": linktype & 0xFFFF, "recs": recs}


def write_pcap(path, cap, big=False):
    end = ">" if big else "<"
    magic = 0xA1B23C4D if cap["nsec"] else 0xA1B2C3D4
    out = [struct.pack(end + "IHHiIII", magic, 2, 4, 0, 0, cap["snaplen"], cap["linktype"])]
    for sec, frac, orig, pkt in cap["recs"]:
        out.append(struct.pack(end + "IIII", sec, frac, len(pkt), orig) + pkt)
    with open(path, "wb") as f:
        f.write(b"".join(out))


def resize(rec, pkt):
    rec[2] = rec[2] - len(rec[3]) + len(pkt)
    rec[3] = pkt


def ip_src(l3, ethertype):
    if ethertype == 0x0800:
        return ".".join(str(b) for b in l3[12:16])
    if ethertype == 0x86DD:
        import ipaddress

        return str(ipaddress.IPv6Address(l3[8:24]))
    return None


def cmd_macs(inp, out, *clients):
    cap = read_pcap(inp)
    assert cap["linktype"] == LT_EN10MB
    for rec in cap["recs"]:
        pkt = rec[3]
        ethertype = struct.unpack(">H", pkt[12:14])[0]
        if ip_src(pkt[14:], ethertype) in clients:
            hdr = GATEWAY_MAC + CLIENT_MAC
        else:
            hdr = CLIENT_MAC + GATEWAY_MAC
        rec[3] = hdr + pkt[12:]
    write_pcap(out, cap)


def cooked_split(linktype, pkt):
    """Return (cooked header, protocol type, network-layer bytes)."""
    if linktype == LT_SLL:
        return pkt[:16], struct.unpack(">H", pkt[14:16])[0], pkt[16:]
    if linktype == LT_SLL2:
        return pkt[:20], struct.unpack(">H", pkt[0:2])[0], pkt[20:]
    raise SystemExit("not a Linux cooked capture (link type %d)" % linktype)


def cmd_to_eth(inp, out):
    cap = read_pcap(inp)
    for rec in cap["recs"]:
        _hdr, proto, l3 = cooked_split(cap["linktype"], rec[3])
        resize(rec, bytes(12) + struct.pack(">H", proto) + l3)
    cap["linktype"] = LT_EN10MB
    write_pcap(out, cap)


def cmd_restore(orig, eth, out):
    o, e = read_pcap(orig), read_pcap(eth)
    if len(o["recs"]) != len(e["recs"]):
        raise SystemExit("frame counts differ: %d vs %d" % (len(o["recs"]), len(e["recs"])))
    for orec, erec in zip(o["recs"], e["recs"]):
        hdr, _proto, _l3 = cooked_split(o["linktype"], orec[3])
        resize(erec, hdr + erec[3][14:])
    e["linktype"] = o["linktype"]
    write_pcap(out, e)


def cmd_relink(inp, out, kind):
    cap = read_pcap(inp)
    assert cap["linktype"] == LT_EN10MB
    for rec in cap["recs"]:
        pkt = rec[3]
        ethertype = struct.unpack(">H", pkt[12:14])[0]
        l3 = pkt[14:]
        v6 = ethertype == 0x86DD
        if kind == "raw":
            new = l3
        elif kind == "null":
            new = struct.pack("<I", 30 if v6 else 2) + l3
        elif kind == "loop":
            new = struct.pack(">I", 24 if v6 else 2) + l3
        elif kind == "vlan":
            new = pkt[:12] + struct.pack(">HH", 0x8100, 77) + pkt[12:]
        elif kind == "qinq":
            new = pkt[:12] + struct.pack(">HHHH", 0x88A8, 100, 0x8100, 77) + pkt[12:]
        else:
            raise SystemExit("unknown kind " + kind)
        resize(rec, new)
    cap["linktype"] = {"raw": LT_RAW, "null": LT_NULL, "loop": LT_LOOP}.get(kind, LT_EN10MB)
    write_pcap(out, cap)


def cmd_bigendian(inp, out):
    write_pcap(out, read_pcap(inp), big=True)


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def cmd_fix_icmpv6(inp, out):
    cap = read_pcap(inp)
    for rec in cap["recs"]:
        pkt = bytearray(rec[3])
        if pkt[12:14] != b"\x86\xdd" or pkt[14 + 6] != 58:
            continue
        ip = pkt[14:54]
        plen = struct.unpack(">H", ip[4:6])[0]
        body = pkt[54 : 54 + plen]
        body[2:4] = b"\0\0"
        pseudo = ip[8:40] + struct.pack(">I", plen) + b"\0\0\0\x3a"
        body[2:4] = struct.pack(">H", checksum(bytes(pseudo + body)))
        pkt[54 : 54 + plen] = body
        rec[3] = bytes(pkt)
    write_pcap(out, cap)


def csum_update(old_csum, old_bytes, new_bytes):
    """RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m')."""
    s = (~old_csum) & 0xFFFF
    for i in range(0, len(old_bytes), 2):
        s += (~struct.unpack(">H", old_bytes[i : i + 2])[0]) & 0xFFFF
        s += struct.unpack(">H", new_bytes[i : i + 2])[0]
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def cmd_v6frag(inp, out, *pairs):
    import ipaddress

    amap = {}
    for p in pairs:
        old, new = p.split("=")
        amap[ipaddress.IPv6Address(old).packed] = ipaddress.IPv6Address(new).packed
    cap = read_pcap(inp)
    assert cap["linktype"] == LT_EN10MB
    for rec in cap["recs"]:
        pkt = bytearray(rec[3])
        if pkt[12:14] != b"\x86\xdd" or pkt[14 + 6] != 44:
            continue
        old = bytes(pkt[22:54])
        new = amap.get(old[:16], old[:16]) + amap.get(old[16:], old[16:])
        if new == old:
            continue
        pkt[22:54] = new
        frag = pkt[54:62]
        offset = struct.unpack(">H", frag[2:4])[0] >> 3
        upper = frag[0]
        if offset == 0 and upper in (6, 17):
            at = 62 + (16 if upper == 6 else 6)
            csum = struct.unpack(">H", pkt[at : at + 2])[0]
            if not (upper == 17 and csum == 0):
                pkt[at : at + 2] = struct.pack(">H", csum_update(csum, old, new))
        rec[3] = bytes(pkt)
    write_pcap(out, cap)


COMMANDS = {
    "v6frag": cmd_v6frag,
    "macs": cmd_macs,
    "to-eth": cmd_to_eth,
    "restore": cmd_restore,
    "relink": cmd_relink,
    "bigendian": cmd_bigendian,
    "fix-icmpv6": cmd_fix_icmpv6,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        raise SystemExit(__doc__)
    COMMANDS[sys.argv[1]](*sys.argv[2:])
