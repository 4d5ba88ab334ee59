#!/usr/bin/env python3
"""Rebuild the bundled attribution databases in data/ from their npm packages.

Run from anywhere: `python3 data/build-bundled.py [--version V] [--from DIR]`.
Needs `npm` (only to fetch the packages, unless --from gives the tarballs) and the
Python packages `mmdb-writer` and `netaddr` (`pip install mmdb-writer netaddr`).
The program itself only reads the results; nothing here runs at build or test time.

Outputs (all deterministic for the same package versions):
  data/asn-ipv4.mmdb, data/asn-ipv6.mmdb   ASN + AS organisation, GeoLite2-ASN record
                                           layout, built from @ip-location-db/asn (CSV)
  data/country.mmdb                        @ip-location-db/geo-whois-asn-country-mmdb,
                                           copied unchanged
  data/bundled.json                        manifest: package, version, licence,
                                           attribution, SHA-256 of inputs and outputs
"""

import argparse
import datetime
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

import mmdb_writer
from mmdb_writer import MMDBWriter, SearchTreeLeaf, SearchTreeNode, MmdbU32

HERE = os.path.dirname(os.path.abspath(__file__))
ASN_PKG = "@ip-location-db/asn"
COUNTRY_PKG = "@ip-location-db/geo-whois-asn-country-mmdb"
DEFAULT_VERSION = "2.3.2026061719"

ASN_ATTRIBUTION = (
    "ASN data: @ip-location-db/asn, CC BY 4.0, by RouteViews (routeviews.org), "
    "DB-IP (IP to ASN Lite, db-ip.com: 'IP Geolocation by DB-IP') and the NRO (nro.net)"
)
COUNTRY_ATTRIBUTION = (
    "Country data: @ip-location-db/geo-whois-asn-country-mmdb (package licence CC0-1.0; "
    "built from RIR whois and delegation statistics, CC BY 4.0 by the NRO, nro.net)"
)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch(pkg, version, workdir, from_dir):
    """Returns the path of the package tarball, from --from or `npm pack`."""
    name = pkg.lstrip("@").replace("/", "-") + "-" + version + ".tgz"
    if from_dir:
        path = os.path.join(from_dir, name)
        if not os.path.exists(path):
            sys.exit(f"missing {path}")
        return path
    subprocess.run(
        ["npm", "pack", "--silent", f"{pkg}@{version}"], cwd=workdir, check=True,
        stdout=subprocess.DEVNULL,
    )
    return os.path.join(workdir, name)


def version_epoch(version):
    """The packages' versions end in YYYYMMDDHH: the build time, used as build_epoch so
    that rebuilding the same version gives the same bytes."""
    stamp = version.rsplit(".", 1)[-1]
    t = datetime.datetime.strptime(stamp, "%Y%m%d%H").replace(tzinfo=datetime.timezone.utc)
    return int(t.timestamp())


def range_to_cidrs(start, end, bits):
    """Splits the inclusive range [start, end] into CIDR blocks (value, prefix length)."""
    out = []
    while start <= end:
        # largest block aligned at start
        size = (start & -start).bit_length() - 1 if start else bits
        while size > 0 and start + (1 << size) - 1 > end:
            size -= 1
        out.append((start, bits - size))
        start += 1 << size
    return out


class FixedEpochWriter(MMDBWriter):
    def __init__(self, epoch, **kw):
        super().__init__(**kw)
        self.epoch = epoch

    def _build_meta(self):
        meta = super()._build_meta()
        meta["build_epoch"] = self.epoch
        return meta

    def insert_cidr(self, value, prefixlen, leaf):
        """Inserts one CIDR; the CSV ranges never overlap, so meeting a leaf on the
        way down means the input is not what we expect."""
        node = self.tree
        for i in range(prefixlen - 1):
            bit = (value >> (self._bit_length - 1 - i)) & 1
            child = node[bit]
            if child is None:
                child = SearchTreeNode()
                node[bit] = child
            elif isinstance(child, SearchTreeLeaf):
                raise ValueError(f"overlapping ranges at {value:x}/{prefixlen}")
            node = child
        bit = (value >> (self._bit_length - prefixlen)) & 1
        if node[bit] is not None:
            raise ValueError(f"duplicate range at {value:x}/{prefixlen}")
        node[bit] = leaf


def build_asn(csv_path, out_path, ip_version, version, epoch):
    import csv

    bits = 32 if ip_version == 4 else 128
    w = FixedEpochWriter(
        epoch,
        ip_version=ip_version,
        database_type="ip-location-db-asn",
        languages=["en"],
        description={"en": f"{ASN_PKG} {version} ({ASN_ATTRIBUTION})"},
    )
    leaves = {}
    rows = 0
    cidrs = 0
    clipped = []
    prev_end = -1
    with open(csv_path, newline="", encoding="utf-8") as f:
        for row in csv.reader(f):
            start, end, asn, org = int(row[0]), int(row[1]), int(row[2]), row[3]
            rows += 1
            if start <= prev_end:
                # The package's rows are sorted and meant to be disjoint; where one
                # overlaps the previous row, the earlier row keeps the overlap and the
                # clipping is recorded in the manifest.
                clipped.append(",".join(row[:3]))
                start = prev_end + 1
                if start > end:
                    continue
            prev_end = max(prev_end, end)
            key = (asn, org)
            leaf = leaves.get(key)
            if leaf is None:
                leaf = SearchTreeLeaf(
                    {
                        "autonomous_system_number": MmdbU32(asn),
                        "autonomous_system_organization": org,
                    }
                )
                leaves[key] = leaf
            for value, plen in range_to_cidrs(start, end, bits):
                w.insert_cidr(value, plen, leaf)
                cidrs += 1
    w.to_db_file(out_path)
    return {"rows": rows, "cidrs": cidrs, "overlapping_rows_clipped": clipped}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--version", default=DEFAULT_VERSION, help="package version of both packages")
    ap.add_argument("--from", dest="from_dir", help="directory holding the two package tarballs")
    ap.add_argument("--out", default=HERE, help="output directory (default: data/)")
    args = ap.parse_args()

    epoch = version_epoch(args.version)
    with tempfile.TemporaryDirectory() as tmp:
        asn_tgz = fetch(ASN_PKG, args.version, tmp, args.from_dir)
        country_tgz = fetch(COUNTRY_PKG, args.version, tmp, args.from_dir)
        for tgz, sub in ((asn_tgz, "asn"), (country_tgz, "country")):
            with tarfile.open(tgz) as t:
                t.extractall(os.path.join(tmp, sub), filter="data")

        outputs = {}
        stats = {}
        for fam in (4, 6):
            name = f"asn-ipv{fam}.mmdb"
            tmp_out = os.path.join(args.out, name + ".tmp")
            stats[name] = build_asn(
                os.path.join(tmp, "asn", "package", f"asn-ipv{fam}-num.csv"),
                tmp_out, fam, args.version, epoch,
            )
            os.replace(tmp_out, os.path.join(args.out, name))
            outputs[name] = "asn"
        tmp_out = os.path.join(args.out, "country.mmdb.tmp")
        shutil.copyfile(
            os.path.join(tmp, "country", "package", "geo-whois-asn-country.mmdb"), tmp_out
        )
        os.replace(tmp_out, os.path.join(args.out, "country.mmdb"))
        outputs["country.mmdb"] = "country"

        pkgs = {
            "asn": {
                "package": ASN_PKG,
                "version": args.version,
                "licence": "CC-BY-4.0",
                "attribution": ASN_ATTRIBUTION,
                "tarball_sha256": sha256(asn_tgz),
                "derivation": "asn-ipv4-num.csv and asn-ipv6-num.csv, each inclusive range "
                "split into CIDR blocks, written as MaxMind DB (GeoLite2-ASN field names)",
            },
            "country": {
                "package": COUNTRY_PKG,
                "version": args.version,
                "licence": "CC0-1.0",
                "attribution": COUNTRY_ATTRIBUTION,
                "tarball_sha256": sha256(country_tgz),
                "derivation": "geo-whois-asn-country.mmdb, unchanged",
            },
        }
    manifest = {
        "built_with": f"data/build-bundled.py, mmdb-writer {getattr(mmdb_writer, '__version__', 'unknown')}",
        "files": [
            {
                "file": name,
                "kind": outputs[name],
                "sha256": sha256(os.path.join(args.out, name)),
                **({"stats": stats[name]} if name in stats else {}),
                **pkgs[outputs[name]],
            }
            for name in sorted(outputs)
        ],
    }
    tmp_out = os.path.join(args.out, "bundled.json.tmp")
    with open(tmp_out, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp_out, os.path.join(args.out, "bundled.json"))
    for entry in manifest["files"]:
        print(f"{entry['file']}  {entry['sha256']}")


if __name__ == "__main__":
    main()
