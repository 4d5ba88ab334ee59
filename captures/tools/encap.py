#!/usr/bin/env python3
"""Re-encapsulates the frames of a real capture (standard library only), for the
encapsulations that the recording machine's kernel cannot produce live.

The frames are written by hand as pcap records (format per
draft-ietf-opsawg-pcap; link types per https://www.tcpdump.org/linktypes.html);
every inner packet is a real one, byte for byte, with its time stamp.

Usage: encap.py IN OUT KIND

IN is an Ethernet pcap, or a VXLAN capture (KIND prefixed "vx:" takes the inner
Ethernet frames of UDP 4789 datagrams, skipping outer IP fragments). The outer IPv4 underlay is 10.250.1.1
(on the side of the first frame's sender) and 10.250.1.2.

KIND (IP frames only, unless said):
  gre       Ethernet/IPv4/GRE with key 7 and sequence numbers (RFC 2890)/IP
  gresre    GRE with the routing field of RFC 1701 (checksum-and-offset word,
            key 7, sequence numbers, one IPv4 source route entry of two hops,
            the null entry)/IP
  grefrag   as gre, the outer IPv4 packet split into fragments of at most 552
            payload bytes (an underlay MTU of 576), in order
  erspan2   Ethernet/IPv4/GRE 0x88be with sequence/ERSPAN type II/Ethernet (all frames)
  erspan3   Ethernet/IPv4/GRE 0x22eb/ERSPAN type III/Ethernet (all frames)
  geneve    Ethernet/IPv4/UDP 6081/Geneve with one 8-byte option/Ethernet (all frames)
  ipip      Ethernet/IPv4/IPv4 (protocol 4)
  6in4      Ethernet/IPv4/IPv6 (protocol 41)
  gtpu      Ethernet/IPv4/UDP 2152/GTP-U G-PDU with a sequence number/IP
  teredo    Ethernet/IPv4/UDP 51812 <-> 3544/Teredo (RFC 4380)/IPv6 (IPv6 frames
            only): the first packet of each side carries the indicators a Teredo
            exchange starts with, the client's an authentication indicator (no
            client id or value, a nonce), the server's also an origin indication
  mpls      Ethernet 0x8847, two labels (100, 200)/IP
  pppoe     Ethernet 0x8864/PPPoE session 0x2a/PPP/IP, after one PADI and one PADO (0x8863)
  llc       IEEE 802.3 with a length field/LLC SNAP AA-AA-03/IP
  ppp       link type 9 (PPP): FF 03, protocol 0x0021 or 0x0057, IP
  chdlc     link type 104 (Cisco HDLC): 0F 00, EtherType, IP
  juniper   link type 178 (Juniper Ethernet; every frame): the "MGC" header
            (flags: 0x01 for the second sender's frames) in turn with extension
            TLVs and the Ethernet frame; without extensions; with extensions and
            no layer 2 (flag 0x02), payload type 2 or 6 (IPv4, IPv6; 204,
            Ethernet, for other frames) then the packet; without extensions and
            no layer 2, payload type 204 then the Ethernet frame
  juniper-ppp link type 179 (Juniper PPP): the header with extensions, FF 03,
            protocol 0x0021 or 0x0057, IP
  nflog     link type 239 (Linux NFLOG): header, prefix and payload TLVs
  wlan      link type 105 (802.11): QoS data frames, LLC/SNAP, IP; every fourth
            frame also sent once more with the Protected bit set (body unchanged)
  radiotap  link type 127: an 8-byte radiotap header before each 802.11 frame
  capwap    Ethernet/IPv4/UDP 12223 (access point) <-> 5247 (controller)/CAPWAP data
            (RFC 5415, radio 1), IP frames only: the 802.11 QoS data frames of
            `wlan` as native frames (T bit, binding 1) with their frame control
            bytes swapped as Cisco access points send them; every second one with
            the radio MAC address in the header, every third with wireless
            information; every fifth frame instead as the Ethernet frame itself
            (T bit clear)
  pktap     link type 258 (Apple PKTAP, Darwin's struct pktap_header, 108 bytes,
            little-endian): record type 1, DLT 1, interface en0, the sending
            process (pid 4242 "curl" for the first frame's sender, 0 "kernel_task"
            for the other side), then the Ethernet frame (all frames)
  amsdu     link type 127: radiotap, then QoS data frames with the A-MSDU Present
            bit (IEEE 802.11-2020 9.3.2.2.2): consecutive frames of one direction
            go together, up to three, each a subframe (DA, SA, length, LLC/SNAP,
            IP) padded to four bytes but the last
"""
import struct
import sys
import zlib


def read_pcap(path):
    d = open(path, "rb").read()
    magic = struct.unpack("<I", d[:4])[0]
    e = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    link = struct.unpack(e + "I", d[20:24])[0]
    off, out = 24, []
    while off + 16 <= len(d):
        sec, sub, incl, orig = struct.unpack(e + "IIII", d[off:off + 16])
        out.append((sec, sub, d[off + 16:off + 16 + incl]))
        off += 16 + incl
    return link, out


def write_pcap(path, link, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, link))
        for sec, sub, data in frames:
            f.write(struct.pack("<IIII", sec, sub, len(data), len(data)) + data)


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


IDENT = [0]


def ipv4(src, dst, proto, payload):
    IDENT[0] += 1
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), IDENT[0], 0x4000, 64, proto, 0,
                    bytes(src), bytes(dst))
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + payload


def ipv4_fragments(src, dst, proto, payload, size=552):
    """One IPv4 datagram as fragments of at most `size` payload bytes (a multiple
    of 8), Don't Fragment clear."""
    IDENT[0] += 1
    out = []
    for off in range(0, len(payload), size):
        part = payload[off:off + size]
        more = off + size < len(payload)
        flags = (0x2000 if more else 0) | (off // 8)
        h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(part), IDENT[0], flags, 64, proto, 0,
                        bytes(src), bytes(dst))
        out.append(h[:10] + struct.pack("!H", csum(h)) + h[12:] + part)
    return out


def udp(sport, dport, payload):
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


MAC_A, MAC_B = bytes.fromhex("020000250201"), bytes.fromhex("020000250202")
UNDER_A, UNDER_B = [10, 250, 1, 1], [10, 250, 1, 2]
# Juniper's header extensions: their total length, then TLVs (type, length, value;
# little-endian below type 128): device media type Ethernet (1), logical
# interface encapsulation Ethernet (14), device interface index 140, logical
# interface index 332.
JUNIPER_EXT = bytes([0, 16, 3, 1, 1, 6, 1, 14, 1, 2, 0x8C, 0, 4, 4, 0x4C, 1, 0, 0])


def eth(fwd, et, payload):
    src, dst = (MAC_A, MAC_B) if fwd else (MAC_B, MAC_A)
    return dst + src + struct.pack("!H", et) + payload


def inner_frames(path, vx):
    link, frames = read_pcap(path)
    assert link == 1, "IN must be Ethernet"
    out = []
    for sec, sub, d in frames:
        if vx:
            # Ethernet(14) IPv4(20) UDP(8) VXLAN(8)
            if len(d) < 50 or d[23] != 17 or struct.unpack("!H", d[36:38])[0] != 4789:
                continue
            if struct.unpack("!H", d[20:22])[0] & 0x3FFF:
                continue
            d = d[50:]
        out.append((sec, sub, d))
    return out


def main():
    src, dst, kind = sys.argv[1:4]
    vx = kind.startswith("vx:")
    kind = kind.removeprefix("vx:")
    frames = inner_frames(src, vx)
    first_src = frames[0][2][6:12]
    out, link, seq = [], 1, 0
    pending = None  # amsdu: [forward, sec, usec, subframes] of the frame being built
    seq_side = {}  # teredo: the sides whose first packet has been written

    def flush():
        if not pending:
            return
        fwd, sec, sub, subs = pending
        body = b"".join(f + b"\0" * ((-len(f)) % 4) for f in subs[:-1]) + subs[-1]
        bssid, a, b = MAC_B, subs[0][6:12], subs[0][0:6]
        addrs = (bssid + a + b) if fwd else (b + bssid + a)
        rt = b"\x00\x00\x08\x00\x00\x00\x00\x00"
        # QoS data, To DS or From DS; QoS control TID 0 with A-MSDU Present (bit 7).
        out.append((sec, sub, rt + bytes([0x88, 0x01 if fwd else 0x02]) + b"\x00\x00" + addrs
                    + struct.pack("<H", len(out) << 4) + b"\x80\x00" + body))
    if kind == "pppoe":
        sec, sub = frames[0][0], frames[0][1]
        tags = struct.pack("!HH", 0x0101, 0) + struct.pack("!HH", 0x0103, 4) + b"\x00\x00\x00\x01"
        out.append((sec, sub, b"\xff" * 6 + MAC_A + struct.pack("!HBBHH", 0x8863, 0x11, 0x09, 0, len(tags)) + tags))
        tags2 = tags + struct.pack("!HH", 0x0102, 3) + b"bras"
        out.append((sec, sub, MAC_A + MAC_B + struct.pack("!HBBHH", 0x8863, 0x11, 0x07, 0, len(tags2)) + tags2))
    for sec, sub, d in frames:
        fwd = d[6:12] == first_src
        et = struct.unpack("!H", d[12:14])[0]
        ip = d[14:]
        is_ip = et in (0x0800, 0x86DD)
        a, b = (UNDER_A, UNDER_B) if fwd else (UNDER_B, UNDER_A)
        seq += 1
        if kind == "gre":
            if not is_ip:
                continue
            g = struct.pack("!BBHII", 0x30, 0, et, 7, seq) + ip
            out.append((sec, sub, eth(fwd, 0x0800, ipv4(a, b, 47, g))))
        elif kind == "gresre":
            if not is_ip:
                continue
            sre = struct.pack("!HBB", 0x0800, 4, 8) + bytes(UNDER_A) + bytes(UNDER_B) + struct.pack("!HBB", 0, 0, 0)
            g = struct.pack("!BBHHHII", 0x70, 0, et, 0, 0, 7, seq) + sre + ip
            out.append((sec, sub, eth(fwd, 0x0800, ipv4(a, b, 47, g))))
        elif kind == "grefrag":
            if not is_ip:
                continue
            g = struct.pack("!BBHII", 0x30, 0, et, 7, seq) + ip
            for f in ipv4_fragments(a, b, 47, g):
                out.append((sec, sub, eth(fwd, 0x0800, f)))
        elif kind == "erspan2":
            hdr = struct.pack("!HHI", 0x1000 | 0, 0x0000 | 42, 0)  # ver 1 (type II), VLAN 0, session 42, index 0
            g = struct.pack("!BBHI", 0x10, 0, 0x88BE, seq) + hdr + d
            out.append((sec, sub, eth(fwd, 0x0800, ipv4(a, b, 47, g))))
        elif kind == "erspan3":
            hdr = struct.pack("!HHIHH", 0x2000, 42, seq * 1000, 0, 0)  # ver 2 (type III), session 42, timestamp, no platform subheader
            g = struct.pack("!BBH", 0x00, 0, 0x22EB) + hdr + d
            out.append((sec, sub, eth(fwd, 0x0800, ipv4(a, b, 47, g))))
        elif kind == "geneve":
            opt = struct.pack("!HBB", 0x0103, 0x01, 1) + b"\x00\x00\x00\x2a"
            gn = struct.pack("!BBH", len(opt) // 4, 0, 0x6558) + struct.pack("!I", 42 << 8) + opt + d
            # The source port from the inner flow, as tunnel endpoints pick it.
            sport = 49152 + (zlib.crc32(bytes(sorted([d[26:30], d[30:34]])[0]) + d[34:38]) & 0x3FFF)
            out.append((sec, sub, eth(fwd, 0x0800, ipv4(a, b, 17, udp(sport, 6081, gn)))))
        elif kind == "ipip":
            if et != 0x0800:
                continue
            out.append((sec, sub, eth(fwd, 0x0800, ipv4(a, b, 4, ip))))
        elif kind == "6in4":
            if et != 0x86DD:
                continue
            out.append((sec, sub, eth(fwd, 0x0800, ipv4(a, b, 41, ip))))
        elif kind == "gtpu":
            if not is_ip:
                continue
            body = struct.pack("!HBB", seq & 0xFFFF, 0, 0) + ip
            g = struct.pack("!BBHI", 0x32, 0xFF, len(body), 0x1000 + (1 if fwd else 2)) + body
            out.append((sec, sub, eth(fwd, 0x0800, ipv4(a, b, 17, udp(2152, 2152, g)))))
        elif kind == "teredo":
            if et != 0x86DD:
                continue
            ports = (51812, 3544) if fwd else (3544, 51812)
            lead = b""
            if seq_side.get(fwd) is None:
                seq_side[fwd] = True
                lead = b"\x00\x01\x00\x00" + struct.pack("!Q", 0x5EED0000 + seq) + b"\x00"
                if not fwd:
                    # Origin indication: the client's port and address, each bit inverted.
                    lead += b"\x00\x00" + struct.pack("!H", 51812 ^ 0xFFFF) + bytes(x ^ 0xFF for x in UNDER_A)
            out.append((sec, sub, eth(fwd, 0x0800, ipv4(a, b, 17, udp(*ports, lead + ip)))))
        elif kind == "mpls":
            if not is_ip:
                continue
            labels = struct.pack("!II", (100 << 12) | (0 << 9) | 64, (200 << 12) | 0x100 | 64)
            out.append((sec, sub, eth(fwd, 0x8847, labels + ip)))
        elif kind == "pppoe":
            if not is_ip:
                continue
            ppp = struct.pack("!H", 0x0021 if et == 0x0800 else 0x0057) + ip
            out.append((sec, sub, eth(fwd, 0x8864, struct.pack("!BBHH", 0x11, 0, 0x2A, len(ppp)) + ppp)))
        elif kind == "llc":
            if not is_ip:
                continue
            body = b"\xaa\xaa\x03\x00\x00\x00" + struct.pack("!H", et) + ip
            out.append((sec, sub, d[:12] + struct.pack("!H", len(body)) + body))
        elif kind == "ppp":
            link = 9
            if not is_ip:
                continue
            out.append((sec, sub, b"\xff\x03" + struct.pack("!H", 0x0021 if et == 0x0800 else 0x0057) + ip))
        elif kind == "chdlc":
            link = 104
            if not is_ip:
                continue
            out.append((sec, sub, b"\x0f\x00" + struct.pack("!H", et) + ip))
        elif kind == "juniper":
            # Juniper's capture header in its four forms, frame after frame.
            link = 178
            flags = 0x00 if fwd else 0x01
            if seq % 4 == 1:
                out.append((sec, sub, b"MGC" + bytes([flags | 0x80]) + JUNIPER_EXT + d))
            elif seq % 4 == 2:
                out.append((sec, sub, b"MGC" + bytes([flags]) + d))
            elif seq % 4 == 3:
                ptype = {0x0800: 2, 0x86DD: 6}.get(et)
                body = ip if ptype else d
                head = b"MGC" + bytes([flags | 0x82]) + JUNIPER_EXT
                out.append((sec, sub, head + struct.pack("<I", ptype or 204) + body))
            else:
                out.append((sec, sub, b"MGC" + bytes([flags | 0x02]) + struct.pack("<I", 204) + d))
        elif kind == "juniper-ppp":
            link = 179
            if not is_ip:
                continue
            flags = 0x80 if fwd else 0x81
            ppp = b"\xff\x03" + struct.pack("!H", 0x0021 if et == 0x0800 else 0x0057)
            out.append((sec, sub, b"MGC" + bytes([flags]) + JUNIPER_EXT + ppp + ip))
        elif kind == "nflog":
            link = 239
            if not is_ip:
                continue

            def tlv(t, v):
                n = 4 + len(v)
                return struct.pack("<HH", n, t) + v + b"\0" * ((-n) % 4)
            family = 2 if et == 0x0800 else 10
            out.append((sec, sub, struct.pack("<BBH", family, 0, 0) + tlv(10, b"whohosts\0") + tlv(9, ip)))
        elif kind in ("wlan", "radiotap"):
            link = 105 if kind == "wlan" else 127
            if not is_ip:
                continue
            bssid = MAC_B
            # QoS data (type 2, subtype 8): To DS from the first sender, From DS back.
            fc1 = 0x01 if fwd else 0x02
            addrs = (bssid + d[6:12] + d[0:6]) if fwd else (d[0:6] + bssid + d[6:12])
            body = b"\xaa\xaa\x03\x00\x00\x00" + struct.pack("!H", et) + ip
            rt = b"\x00\x00\x08\x00\x00\x00\x00\x00" if kind == "radiotap" else b""
            frame = lambda flags: rt + bytes([0x88, flags]) + b"\x00\x00" + addrs + struct.pack("<H", seq << 4) + b"\x00\x00" + body
            out.append((sec, sub, frame(fc1)))
            if seq % 4 == 0:
                out.append((sec, sub, frame(fc1 | 0x40)))
        elif kind == "capwap":
            if not is_ip:
                continue
            fc1 = 0x01 if fwd else 0x02
            addrs = (MAC_B + d[6:12] + d[0:6]) if fwd else (d[0:6] + MAC_B + d[6:12])
            body = b"\xaa\xaa\x03\x00\x00\x00" + struct.pack("!H", et) + ip
            native = seq % 5 != 0
            frame = (bytes([fc1, 0x88]) + b"\x00\x00" + addrs + struct.pack("<H", seq << 4)
                     + b"\x00\x00" + body) if native else d
            opts, flags = b"", 0
            if seq % 2 == 0:
                opts += b"\x06" + MAC_B + b"\x00"  # radio MAC (M), padded to 4 bytes
                flags |= 0x10
            if seq % 3 == 0:
                opts += b"\x04" + b"\xc4\x5a\x00\x00" + b"\x00\x00\x00"  # wireless info (W)
                flags |= 0x20
            hlen = (8 + len(opts)) // 4
            # Version 0, type 0; HLEN, RID 1, WBID 1, T; flags; no fragment.
            hdr = bytes([0, hlen << 3, 0x40 | (1 << 1) | (1 if native else 0), flags]) + b"\x00" * 4
            ports = (12223, 5247) if fwd else (5247, 12223)
            out.append((sec, sub, eth(fwd, 0x0800, ipv4(a, b, 17, udp(*ports, hdr + opts + frame)))))
        elif kind == "pktap":
            link = 258
            family = {0x0800: 2, 0x86DD: 30}.get(et, 0)
            pid, comm = (4242, b"curl") if fwd else (0, b"kernel_task")
            hdr = struct.pack("<III", 108, 1, 1) + b"en0".ljust(24, b"\0")
            hdr += struct.pack("<IIIIi", 0, family, 14, 0, pid) + comm.ljust(20, b"\0")
            hdr += struct.pack("<IHHi", 0, 6, 0, pid) + comm.ljust(20, b"\0")
            assert len(hdr) == 108, len(hdr)
            out.append((sec, sub, hdr + d))
        elif kind == "amsdu":
            link = 127
            if not is_ip:
                continue
            sub_frame = d[0:6] + d[6:12] + struct.pack("!H", 8 + len(ip)) + b"\xaa\xaa\x03\x00\x00\x00" + struct.pack("!H", et) + ip
            if pending and pending[0] == fwd and len(pending[3]) < 3:
                pending[3].append(sub_frame)
            else:
                flush()
                pending = [fwd, sec, sub, [sub_frame]]
        else:
            sys.exit("unknown KIND " + kind)
    flush()
    write_pcap(dst, link, out)


main()
