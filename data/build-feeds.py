#!/usr/bin/env python3
"""Make the bundled snapshot of the providers' official range feeds in data/feeds/.

Run from anywhere: `python3 data/build-feeds.py --from DIR [--snapshot YYYY-MM]`.
DIR holds the feeds as downloaded from the providers (file names as in FEEDS below;
`whohosts data update --data-dir D` followed by `--from D/feeds` also works, see
--stored). Needs the `zstd` program (Debian package zstd). Nothing here runs at build
or test time; the program reads the results.

For each feed the script checks that the file is what it should be (a JSON feed
parses and has the keys of its format, a text feed has prefix lines), compresses it
with `zstd -19` into data/feeds/<stored name>.zst (the stored name is the one
`whohosts data update` uses in a data directory, so that an imported or downloaded
copy of the same feed replaces the bundled one), and writes data/feeds.json: per
feed the URL, the date of the data, the version the feed states, the SHA-256 and size
of the provider's bytes, the SHA-256 of the compressed file, the terms of use and the
prefix counts. The output is deterministic for the same input files and zstd version.
"""

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# Terms of use, as far as the files and the providers' pages say. None of these files
# carries a licence; each is published by the provider about its own address space for
# anyone to use (allow-lists, routing, geolocation). Not re-checked from this machine.
TERMS_PUBLISHED = (
    "published by the provider for public use; the file states no licence "
    "(facts about the provider's own address space)"
)

# source file name -> (provider, format, stored name, official URL, terms)
FEEDS = [
    ("aws-ip-ranges.json", "aws", "aws-ip-ranges", "aws.aws-ip-ranges.json",
     "https://ip-ranges.amazonaws.com/ip-ranges.json",
     TERMS_PUBLISHED + "; documented at docs.aws.amazon.com/vpc/latest/userguide/aws-ip-ranges.html"),
    ("google-cloud-ip-ranges.json", "gcp", "google-cloud-json", "gcp.google-cloud-json.json",
     "https://www.gstatic.com/ipranges/cloud.json",
     TERMS_PUBLISHED + "; documented at cloud.google.com/compute/docs/faq#find_ip_range"),
    ("microsoft-azure-ip-ranges.json", "azure", "azure-service-tags", "azure.azure-service-tags.json",
     "https://www.microsoft.com/en-us/download/details.aspx?id=56519",
     "Microsoft Download Center file (Azure IP Ranges and Service Tags - Public); "
     "Microsoft's download terms apply; the file states no licence"),
    ("oracle-cloud-ip-ranges.json", "oracle", "oracle-public-ip-ranges", "oracle.oracle-public-ip-ranges.json",
     "https://docs.oracle.com/iaas/tools/public_ip_ranges.json",
     TERMS_PUBLISHED + "; Oracle documentation site terms apply"),
    ("digitalocean.csv", "digitalocean", "geofeed", "digitalocean.geofeed.txt",
     "https://digitalocean.com/geo/google.csv",
     "RFC 8805 self-published geofeed, published for geolocation providers and anyone; "
     "the file states no licence"),
    ("linode.txt", "linode", "geofeed", "linode.geofeed.txt",
     "https://geoip.linode.com/",
     "RFC 8805 self-published geofeed, published for geolocation providers and anyone; "
     "the file states no licence"),
    ("cloudflare-v4-ip-ranges.txt", "cloudflare", "cidr-list", "cloudflare.cidr-list-v4.txt",
     "https://www.cloudflare.com/ips-v4", TERMS_PUBLISHED + "; listed at www.cloudflare.com/ips/"),
    ("cloudflare-v6-ip-ranges.txt", "cloudflare", "cidr-list", "cloudflare.cidr-list-v6.txt",
     "https://www.cloudflare.com/ips-v6", TERMS_PUBLISHED + "; listed at www.cloudflare.com/ips/"),
    ("fastly-ip-ranges.json", "fastly", "fastly-public-ip-list", "fastly.fastly-public-ip-list.json",
     "https://api.fastly.com/public-ip-list", TERMS_PUBLISHED + "; Fastly public API"),
    ("github-ip-ranges.json", "github", "github-meta", "github.github-meta.json",
     "https://api.github.com/meta",
     "GitHub REST API answer (meta endpoint); GitHub's API terms apply; the answer states no licence"),
]


def sha256(b):
    return hashlib.sha256(b).hexdigest()


def version_and_date(fmt, data, snapshot):
    """The version the feed states and the date of its data (YYYY-MM-DD when the feed
    says, else the snapshot month), with what the date rests on."""
    text = data.decode("utf-8")
    if fmt in ("aws-ip-ranges", "google-cloud-json", "azure-service-tags",
               "oracle-public-ip-ranges", "fastly-public-ip-list", "github-meta"):
        v = json.loads(text)
        if fmt == "aws-ip-ranges":
            d = v["createDate"]
            return f"{d} (syncToken {v['syncToken']})", d[:10], "the feed's createDate"
        if fmt == "google-cloud-json":
            d = v["creationTime"]
            return f"{d} (syncToken {v['syncToken']})", d[:10], "the feed's creationTime"
        if fmt == "azure-service-tags":
            return f"changeNumber {v['changeNumber']} ({v['cloud']})", snapshot, "snapshot month"
        if fmt == "oracle-public-ip-ranges":
            d = v["last_updated_timestamp"]
            return d, d[:10], "the feed's last_updated_timestamp"
        return None, snapshot, "snapshot month"
    m = re.search(r"^#\s*Last modified:\s*(\S+)", text, re.M | re.I)
    if m:
        return text[m.start():].split(":", 1)[1].splitlines()[0].strip(), m.group(1)[:10], \
            "the feed's Last modified comment"
    return None, snapshot, "snapshot month"


def count(fmt, data):
    """IPv4 and IPv6 prefixes, counted independently of the program's parser."""
    text = data.decode("utf-8")
    v4 = v6 = 0
    if fmt in ("geofeed", "cidr-list"):
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            p = line.split(",")[0].strip()
            if ":" in p:
                v6 += 1
            else:
                v4 += 1
        return v4, v6
    v = json.loads(text)
    prefixes = []
    if fmt == "aws-ip-ranges":
        prefixes = [e["ip_prefix"] for e in v["prefixes"]] + [e["ipv6_prefix"] for e in v["ipv6_prefixes"]]
    elif fmt == "google-cloud-json":
        prefixes = [e.get("ipv4Prefix") or e.get("ipv6Prefix") for e in v["prefixes"]]
    elif fmt == "azure-service-tags":
        prefixes = [p for t in v["values"] for p in t["properties"]["addressPrefixes"]]
    elif fmt == "oracle-public-ip-ranges":
        prefixes = [c["cidr"] for r in v["regions"] for c in r["cidrs"]]
    elif fmt == "fastly-public-ip-list":
        prefixes = v["addresses"] + v["ipv6_addresses"]
    elif fmt == "github-meta":
        for key, items in v.items():
            if isinstance(items, list) and items and isinstance(items[0], str) and "/" in items[0]:
                prefixes += items
    for p in prefixes:
        if ":" in p:
            v6 += 1
        else:
            v4 += 1
    return v4, v6


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--from", dest="from_dir", required=True, help="directory holding the downloaded feeds")
    ap.add_argument("--snapshot", default="2025-07",
                    help="month the files were downloaded (YYYY-MM), for feeds that state no date")
    ap.add_argument("--out", default=HERE, help="output directory (default: data/)")
    ap.add_argument("--stored", action="store_true",
                    help="DIR holds the feeds under their stored names (a whohosts data directory's feeds/)")
    args = ap.parse_args()
    if not re.fullmatch(r"\d{4}-\d{2}", args.snapshot):
        sys.exit("--snapshot: expected YYYY-MM")
    zstd_version = re.sub(r"\*+", "", subprocess.run(["zstd", "--version"], check=True, capture_output=True,
                                  text=True).stdout).strip()
    out_dir = os.path.join(args.out, "feeds")
    os.makedirs(out_dir, exist_ok=True)
    entries = []
    for source, provider, fmt, stored, url, terms in FEEDS:
        path = os.path.join(args.from_dir, stored if args.stored else source)
        with open(path, "rb") as f:
            data = f.read()
        version, date, date_basis = version_and_date(fmt, data, args.snapshot)
        v4, v6 = count(fmt, data)
        if v4 + v6 == 0:
            sys.exit(f"{path}: no prefixes")
        packed = subprocess.run(["zstd", "-19", "-q", "--no-progress", "-c"], input=data,
                                check=True, capture_output=True).stdout
        target = os.path.join(out_dir, stored + ".zst")
        tmp = target + ".tmp"
        with open(tmp, "wb") as f:
            f.write(packed)
        os.replace(tmp, target)
        entries.append({
            "file": f"feeds/{stored}.zst",
            "stored": stored,
            "source_file": source,
            "provider": provider,
            "format": fmt,
            "url": url,
            "date": date,
            "date_basis": date_basis,
            "version": version,
            "size": len(data),
            "sha256": sha256(data),
            "zst_sha256": sha256(packed),
            "terms": terms,
            "ipv4": v4,
            "ipv6": v6,
        })
        print(f"{stored}.zst  {len(data)} -> {len(packed)} bytes  {v4} + {v6} prefixes  {date}")
    manifest = {
        "snapshot": args.snapshot,
        "built_with": f"data/build-feeds.py, {zstd_version}",
        "feeds": entries,
    }
    tmp = os.path.join(args.out, "feeds.json.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, os.path.join(args.out, "feeds.json"))


if __name__ == "__main__":
    main()
