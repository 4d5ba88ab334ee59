//! Tests of the provider directory: the bundled file and hand-made broken directories.
//! The hostnames below are shapes documented by the providers (see each pattern's
//! `sources` in data/providers.toml), with made-up bucket and host labels.

use super::*;

fn bundled() -> Directory {
    match Directory::bundled() {
        Ok(d) => d,
        Err(e) => panic!("bundled directory must load: {e}"),
    }
}

/// A minimal valid provider, to be broken one field at a time.
const BASE: &str = r#"
version = "2026-11-21"

[[provider]]
id = "example"
name_en = "Example Cloud"
service_model = "iaas"
jurisdiction = "US"
asns = [64500]

[[provider.entity]]
name = "Example, Inc."
country = "US"
role = "contracting entity"
confirmed = "unconfirmed"

[[provider.notice]]
kind = "email"
target = "abuse@example.net"
language = "en"
jurisdiction = "US"
purpose = "abuse"
confirmed = "2026-11-20"
source = "test"

[[provider.region]]
id = "xx-east-1"
city = "Springfield"
country = "US"

[[provider.hostname_pattern]]
regex = '^(?:.+\.)?(?P<region>[a-z]{2}-[a-z]+-[0-9])\.example\.net$'
what = "test endpoint"
strength = "strong"
examples = [{ host = "a.xx-east-1.example.net", region = "xx-east-1" }]
"#;

fn load_err(text: &str) -> DirectoryError {
    match Directory::from_toml(text, "test.toml") {
        Ok(_) => panic!("directory should have been refused:\n{text}"),
        Err(e) => e,
    }
}

#[test]
fn bundled_directory_loads_with_version_and_hash() {
    let dir = bundled();
    assert_eq!(dir.version(), "2026-12-04");
    assert_eq!(dir.sha256().len(), 64);
    assert_eq!(dir.sha256(), sha256_hex(BUNDLED.as_bytes()));
}

#[test]
fn bundled_directory_covers_the_required_providers() {
    let dir = bundled();
    let required = [
        // LEGAL.md provider table
        "alibaba",
        "tencent",
        "huawei",
        "baidu",
        "aws",
        "gcp",
        "azure",
        "cloudflare",
        "linode",
        "akamai",
        "ovh",
        "hetzner",
        "digitalocean",
        "vultr",
        "oracle",
        // other large Chinese clouds
        "ucloud",
        "kingsoft",
        "jdcloud",
        "volcengine",
        "ctyun",
        "ecloud",
        // large VPS hosters
        "contabo",
        "leaseweb",
        "scaleway",
        "ionos",
        "hostinger",
        "m247",
        "cdn77",
        "gcore",
        "selectel",
        "yandex",
        "naver",
        "sakura",
        // more
        "fastly",
        "github",
    ];
    for id in required {
        assert!(dir.provider(id).is_some(), "provider {id} missing");
    }
    assert!(
        dir.providers().len() >= 40,
        "only {} providers",
        dir.providers().len()
    );
}

#[test]
fn providers_are_sorted_by_id() {
    let dir = bundled();
    let ids: Vec<&str> = dir.providers().iter().map(|p| p.id.as_str()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
}

#[test]
fn every_provider_cites_sources_and_has_a_legal_entity() {
    for p in bundled().providers() {
        assert!(!p.sources.is_empty(), "{} has no sources", p.id);
        assert!(!p.entities.is_empty(), "{} has no legal entity", p.id);
    }
}

#[test]
fn legal_md_hostname_examples_give_provider_region_and_city() {
    let dir = bundled();
    let cases = [
        (
            "x.oss-cn-hangzhou.aliyuncs.com",
            "alibaba",
            "cn-hangzhou",
            "Hangzhou",
        ),
        (
            "ec2-3-120-1-2.eu-central-1.compute.amazonaws.com",
            "aws",
            "eu-central-1",
            "Frankfurt",
        ),
        (
            "x.cos.ap-guangzhou.myqcloud.com",
            "tencent",
            "ap-guangzhou",
            "Guangzhou",
        ),
    ];
    for (host, provider, region, city) in cases {
        let Some(m) = dir.match_hostname(host) else {
            panic!("{host} did not match");
        };
        assert_eq!(m.provider, provider, "{host}");
        assert_eq!(m.region_id(), Some(region), "{host}");
        assert_eq!(
            m.region.as_ref().and_then(|r| r.city.as_deref()),
            Some(city),
            "{host}"
        );
        assert_eq!(m.strength, Strength::Strong);
    }
}

#[test]
fn every_pattern_example_matches_its_provider_and_stated_region() {
    let dir = bundled();
    let mut checked = 0;
    for p in dir.providers() {
        for pattern in &p.hostname_patterns {
            assert!(
                !pattern.examples.is_empty(),
                "{}: pattern {} has no examples",
                p.id,
                pattern.regex
            );
            for example in &pattern.examples {
                let Some(m) = dir.match_hostname(&example.host) else {
                    panic!("{}: example {} matched nothing", p.id, example.host);
                };
                assert_eq!(m.provider, p.id, "example {}", example.host);
                assert_eq!(
                    m.region_id(),
                    example.region.as_deref(),
                    "example {} ({:?})",
                    example.host,
                    m.region_unknown
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 100, "only {checked} examples");
}

#[test]
fn fixed_region_pattern_gives_us_east_1() {
    let m = bundled().match_hostname("ec2-54-80-1-2.compute-1.amazonaws.com");
    assert_eq!(m.as_ref().and_then(|m| m.region_id()), Some("us-east-1"));
    assert_eq!(m.and_then(|m| m.captured), None);
}

#[test]
fn unknown_region_in_a_name_is_reported_not_guessed() {
    let Some(m) = bundled().match_hostname("x.oss-cn-atlantis.aliyuncs.com") else {
        panic!("provider must still be recognised");
    };
    assert_eq!(m.provider, "alibaba");
    assert_eq!(m.region, None);
    assert_eq!(m.captured.as_deref(), Some("cn-atlantis"));
    let reason = m.region_unknown.unwrap_or_default();
    assert!(reason.contains("cn-atlantis"), "{reason}");
}

#[test]
fn provider_only_names_say_why_there_is_no_region() {
    let Some(m) = bundled().match_hostname("4.3.2.34.bc.googleusercontent.com") else {
        panic!("no match");
    };
    assert_eq!(m.provider, "gcp");
    assert_eq!(m.region, None);
    assert!(m.region_unknown.is_some());
}

#[test]
fn hostnames_match_case_insensitively_and_with_root_dot() {
    let dir = bundled();
    let m = dir.match_hostname("X.OSS-CN-SHANGHAI.ALIYUNCS.COM.");
    assert_eq!(m.as_ref().map(|m| m.provider.as_str()), Some("alibaba"));
    assert_eq!(m.as_ref().and_then(|m| m.region_id()), Some("cn-shanghai"));
}

#[test]
fn unrelated_and_hostile_names_do_not_match() {
    let dir = bundled();
    for host in [
        "",
        ".",
        "example.com",
        "aliyuncs.com.evil.example",
        "amazonaws.com.attacker.net",
        "xoss-cn-hangzhou.aliyuncs.com.cn",
        "\u{0}\u{ff}",
    ] {
        assert_eq!(dir.match_hostname(host), None, "{host:?}");
    }
    let long = format!("{}.amazonaws.com", "a".repeat(300));
    assert_eq!(dir.match_hostname(&long), None);
}

#[test]
fn region_alias_resolves_to_the_canonical_region() {
    let m = bundled().match_hostname("service-abc123de-1250000000.sh.apigw.tencentcs.com");
    assert_eq!(
        m.and_then(|m| m.region).map(|r| r.id),
        Some("ap-shanghai".to_string())
    );
}

#[test]
fn by_asn_prefers_confirmed_listing() {
    let dir = bundled();
    assert_eq!(dir.by_asn(37963).map(|p| p.id.as_str()), Some("alibaba"));
    assert_eq!(dir.by_asn(16509).map(|p| p.id.as_str()), Some("aws"));
    assert_eq!(dir.by_asn(8075).map(|p| p.id.as_str()), Some("azure"));
    assert_eq!(dir.by_asn(24940).map(|p| p.id.as_str()), Some("hetzner"));
    assert!(dir.by_asn(64512).is_none());
    let holders = dir.asn_holders(213230);
    assert_eq!(holders.len(), 1);
    assert_eq!(
        holders
            .first()
            .map(|h| (h.provider.id.as_str(), h.verified)),
        Some(("hetzner", false))
    );
}

#[test]
fn region_by_city_ignores_case_diacritics_and_punctuation() {
    let dir = bundled();
    let id =
        |p: &str, c: &str, cc: Option<&str>| dir.region_by_city(p, c, cc).map(|r| r.id.clone());
    assert_eq!(id("aws", "Sao Paulo", None).as_deref(), Some("sa-east-1"));
    assert_eq!(
        id("aws", "SÃO PAULO", Some("BR")).as_deref(),
        Some("sa-east-1")
    );
    assert_eq!(
        id("aws", "frankfurt am main", Some("de")).as_deref(),
        Some("eu-central-1")
    );
    assert_eq!(
        id("gcp", "Zurich", Some("CH")).as_deref(),
        Some("europe-west6")
    );
    assert_eq!(id("hetzner", "Nürnberg", None).as_deref(), Some("nbg1"));
    assert_eq!(
        id("alibaba", "hangzhou", Some("CN")).as_deref(),
        Some("cn-hangzhou")
    );
    assert_eq!(id("aws", "Frankfurt", Some("US")), None);
    assert_eq!(id("nonexistent", "Frankfurt", None), None);
    assert_eq!(dir.regions_by_city("oracle", "Singapore", None).len(), 2);
}

#[test]
fn fold_name_removes_diacritics() {
    assert_eq!(fold_name("São Paulo"), "saopaulo");
    assert_eq!(fold_name("Querétaro"), "queretaro");
    assert_eq!(fold_name("Gävle"), "gavle");
    assert_eq!(fold_name("St. Ghislain"), "stghislain");
    assert_eq!(fold_name("北京"), "北京");
}

#[test]
fn minimal_directory_loads() {
    let dir = match Directory::from_toml(BASE, "test.toml") {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(dir.providers().len(), 1);
    assert_eq!(dir.by_asn(64500).map(|p| p.id.as_str()), Some("example"));
    assert_eq!(
        dir.match_hostname("a.xx-east-1.example.net")
            .and_then(|m| m.region)
            .map(|r| r.id),
        Some("xx-east-1".to_string())
    );
}

#[test]
fn load_reads_a_file_and_names_it_in_errors() {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    let path = dir.path().join("providers.toml");
    if let Err(e) = std::fs::write(&path, BASE) {
        panic!("{e}");
    }
    assert!(Directory::load(&path).is_ok());
    let missing = dir.path().join("missing.toml");
    let err = match Directory::load(&missing) {
        Ok(_) => panic!("missing file must fail"),
        Err(e) => e,
    };
    assert!(matches!(err, DirectoryError::Read { .. }));
    assert!(err.to_string().contains("missing.toml"));
}

/// Two copies of BASE under one version line.
fn twice(second_id: &str, second_asn: u32) -> String {
    let provider = BASE
        .split_once("[[provider]]")
        .map(|(_, p)| p)
        .unwrap_or_default();
    let second = provider
        .replace("id = \"example\"", &format!("id = \"{second_id}\""))
        .replace("asns = [64500]", &format!("asns = [{second_asn}]"));
    format!("{BASE}\n[[provider]]{second}")
}

#[test]
fn duplicate_provider_id_is_refused() {
    let err = load_err(&twice("example", 64501));
    assert!(
        matches!(&err, DirectoryError::DuplicateId { provider, .. } if provider == "example"),
        "{err}"
    );
}

#[test]
fn duplicate_asn_across_providers_is_refused_unless_shared() {
    let err = load_err(&twice("other", 64500));
    assert!(
        matches!(&err, DirectoryError::DuplicateAsn { asn: 64500, .. }),
        "{err}"
    );
    let shared =
        twice("other", 64500).replace("asns = [64500]", "asns = [64500]\nshared_asns = [64500]");
    assert!(Directory::from_toml(&shared, "test.toml").is_ok());
}

#[test]
fn carrier_asns_are_sourced_and_never_decide_a_provider() {
    let carrier = |extra: &str| BASE.replace("asns = [64500]", &format!("asns = [64500]\n{extra}"));
    let ok = Directory::from_toml(
        &carrier("carrier_asns = [64501]\nsources = [\"registry: AS64501 Example Carrier\"]"),
        "test.toml",
    )
    .unwrap();
    assert_eq!(ok.carried_by(64501).len(), 1);
    assert!(ok.by_asn(64501).is_none(), "a carrier ASN decides nothing");
    // Not named in the sources (AS645010 is another number).
    let err = load_err(&carrier(
        "carrier_asns = [64501]\nsources = [\"registry: AS645010\"]",
    ));
    assert!(
        matches!(&err, DirectoryError::InvalidField { field, found, .. } if field == "carrier_asns" && found == "64501"),
        "{err}"
    );
    // Also a deciding ASN of the same provider.
    let err = load_err(&carrier(
        "carrier_asns = [64500]\nsources = [\"registry: AS64500\"]",
    ));
    assert!(
        matches!(&err, DirectoryError::InvalidField { field, found, .. } if field == "carrier_asns" && found == "64500"),
        "{err}"
    );
    // A deciding ASN of another provider.
    let other = twice("other", 64502).replace(
        "asns = [64500]\n",
        "asns = [64500]\ncarrier_asns = [64502]\nsources = [\"registry: AS64502\"]\n",
    );
    let err = load_err(&other);
    assert!(
        matches!(&err, DirectoryError::DuplicateAsn { asn: 64502, .. }),
        "{err}"
    );
}

#[test]
fn asn_listed_twice_by_one_provider_is_refused() {
    let err = load_err(&BASE.replace(
        "asns = [64500]",
        "asns = [64500]\nasns_unverified = [64500]",
    ));
    assert!(
        matches!(&err, DirectoryError::RepeatedAsn { asn: 64500, .. }),
        "{err}"
    );
}

#[test]
fn unknown_service_model_names_provider_and_field() {
    let err = load_err(&BASE.replace("service_model = \"iaas\"", "service_model = \"saas\""));
    assert!(
        matches!(&err, DirectoryError::UnknownServiceModel { provider, field, found, .. }
            if provider == "example" && field == "service_model" && found == "saas"),
        "{err}"
    );
    assert!(err.to_string().contains("example"));
}

#[test]
fn invalid_regex_is_refused() {
    // Within the hostname syntax but not a regular expression: the parser's reason, at
    // its byte.
    let err = load_err(&BASE.replace("(?P<region>[a-z]{2}", "(?P<region>[z-a]{2}"));
    assert!(
        matches!(&err, DirectoryError::InvalidRegex { provider, field, message, .. }
            if provider == "example" && field == "hostname_pattern[0].regex"
                && message.starts_with("at byte 22: invalid character class range")
                && !message.contains("hostname patterns use only")),
        "{err}"
    );
}

#[test]
fn pattern_outside_the_hostname_syntax_is_refused_with_its_offset() {
    // `\d` also matches non-ASCII digits; the name a hostile server sends could hit it.
    let err = load_err(&BASE.replace("-[0-9])", r"-\d)"));
    assert!(
        matches!(&err, DirectoryError::InvalidRegex { provider, field, message, .. }
            if provider == "example" && field == "hostname_pattern[0].regex"
                && message.starts_with("at byte 38: expected `.` or `-` after `\\`, found 'd'")),
        "{err}"
    );
}

#[test]
fn hostname_syntax_refuses_what_never_matches_or_over_matches() {
    let refused = [
        // (pattern, byte offset named, what the message says there)
        (r"^EC2\.example\.net$", 1, "'E'"),
        (r"^(?i)ec2\.example\.net$", 1, "'('"),
        (r"^\p{L}+\.example\.net$", 2, "'p'"),
        (r"^[[:alpha:]]+\.example\.net$", 2, "'['"),
        (r"^[]\.example\.net$", 1, "unclosed character class"),
        (r"^[a-z\.example\.net$", 1, "unclosed character class"),
        (r"^(?<region>[a-z]+)\.net$", 1, "'('"),
        (r"^(?P<bucket>[a-z]+)\.net$", 1, "'('"),
        (r"^example\.net\$", 14, "the closing `$`"),
        (r"^a^b$", 2, "'^'"),
        (r"^a$b$", 2, "'$'"),
        (r"^a b$", 2, "' '"),
        (r"^é\.net$", 1, "'é'"),
        (r"^*a$", 1, "'*'"),
        (r"^a**$", 3, "'*'"),
        (r"^(?:|+)$", 5, "'+'"),
        (r"^a{300}$", 3, "'3'"),
        (r"^a{1,2$", 2, "unclosed counted repetition"),
        (r"^a{,2}$", 3, "','"),
        (r"^a{1234}$", 3, "a count of at most 253"),
        (r"^a)$", 2, "')'"),
        // `^a|b$` is `^a` or `b$` (shown below).
        (r"^(?:.+\.)?example\.net|example\.org$", 22, "'|'"),
        (r"^|$", 1, "'|'"),
        (r"^(?:a$", 1, "unclosed group"),
        (r"^(?:(?:(?:(?:(?:(?:(?:(?:(?:a)))))))))$", 25, "'('"),
    ];
    let wrong: Vec<String> = refused
        .iter()
        .filter_map(|(pattern, at, found)| match check_pattern_syntax(pattern) {
            Ok(()) => Some(format!("{pattern:?} should have been refused")),
            Err(e) => (!(e.at() == *at && e.to_string().contains(found)))
                .then(|| format!("{pattern:?}: {e}")),
        })
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Not a regular expression at all, and one outside the subset, told apart.
    assert!(matches!(
        check_pattern_syntax(r"^(?:a$"),
        Err(super::pattern::PatternError::NotARegex { at: 1, .. })
    ));
    assert!(matches!(
        check_pattern_syntax(r"^a**$"),
        Err(super::pattern::PatternError::Outside { at: 3, .. })
    ));
    let split = Regex::new(r"^(?:.+\.)?example\.net|example\.org$").expect("compiles");
    assert!(split.is_match("example.net.attacker.test"));
    let accepted = [
        r"^$",
        r"^[^.]+\.example\.net$",
        r"^[a-z0-9_\-\.]+?\.example\.net$",
        r"^(?:[0-9]+\.){4}x\.net$",
        r"^a{2,}b{1,253}c{0}-?_\.x$",
        r"^(?:a|b|)(?P<region>[a-z]{2}(?:-gov)?-[a-z]+-[0-9])$",
        r"^(?:(?:(?:(?:(?:(?:(?:(?:a))))))))$",
    ];
    for pattern in accepted {
        assert_eq!(check_pattern_syntax(pattern), Ok(()), "{pattern:?}");
        assert!(Regex::new(pattern).is_ok(), "{pattern:?}");
    }
}

#[test]
fn unanchored_regex_is_refused() {
    let err = load_err(&BASE.replace("\\.example\\.net$'", "\\.example\\.net'"));
    assert!(
        matches!(&err, DirectoryError::InvalidField { field, .. } if field == "hostname_pattern[0].regex"),
        "{err}"
    );
}

#[test]
fn pattern_without_region_group_is_refused_unless_provider_only_or_fixed() {
    let no_group = BASE
        .replace("(?P<region>[a-z]{2}-[a-z]+-[0-9])", "[a-z]{2}-[a-z]+-[0-9]")
        .replace(", region = \"xx-east-1\" }", " }");
    let err = load_err(&no_group);
    assert!(
        matches!(&err, DirectoryError::PatternWithoutRegion { provider, .. } if provider == "example"),
        "{err}"
    );
    let provider_only = no_group.replace(
        "what = \"test endpoint\"",
        "provider_only = true\nwhat = \"test endpoint\"",
    );
    assert!(Directory::from_toml(&provider_only, "t").is_ok());
    let fixed = no_group.replace(
        "what = \"test endpoint\"",
        "region = \"xx-east-1\"\nwhat = \"test endpoint\"",
    );
    assert!(Directory::from_toml(&fixed, "t").is_ok());
    let fixed_unknown = no_group.replace(
        "what = \"test endpoint\"",
        "region = \"nowhere-1\"\nwhat = \"test endpoint\"",
    );
    let err = load_err(&fixed_unknown);
    assert!(
        matches!(&err, DirectoryError::InvalidField { field, .. } if field == "hostname_pattern[0].region"),
        "{err}"
    );
}

#[test]
fn duplicated_region_id_is_refused() {
    let err = load_err(&BASE.replace(
        "city = \"Springfield\"\ncountry = \"US\"\n",
        "city = \"Springfield\"\ncountry = \"US\"\n\n[[provider.region]]\nid = \"XX-EAST-1\"\ncity = \"Shelbyville\"\ncountry = \"US\"\n",
    ));
    assert!(
        matches!(&err, DirectoryError::DuplicateRegion { region, .. } if region == "xx-east-1"),
        "{err}"
    );
}

#[test]
fn empty_legal_entity_is_refused() {
    let err = load_err(&BASE.replace("name = \"Example, Inc.\"", "name = \"  \""));
    assert!(
        matches!(&err, DirectoryError::EmptyEntity { field, .. } if field == "entity[0]"),
        "{err}"
    );
}

#[test]
fn notice_channel_without_target_or_reason_is_refused() {
    let err = load_err(&BASE.replace("target = \"abuse@example.net\"\n", ""));
    assert!(
        matches!(&err, DirectoryError::NoticeWithoutTarget { field, .. } if field == "notice[0]"),
        "{err}"
    );
    let with_reason = BASE.replace(
        "target = \"abuse@example.net\"",
        "reason = \"unknown: not published\"",
    );
    assert!(Directory::from_toml(&with_reason, "t").is_ok());
}

#[test]
fn a_missing_or_malformed_confirmed_date_is_refused_naming_provider_item_and_field() {
    let expected =
        "a date YYYY-MM-DD, not after the directory's version 2026-11-21) or \"unconfirmed\"";
    let msg = |text: &str| load_err(text).to_string();
    // Missing on a channel.
    assert_eq!(
        msg(&BASE.replace("confirmed = \"2026-11-20\"\n", "")),
        format!("test.toml: provider \"example\", field `notice[0].confirmed`: missing; expected the date the fact was last confirmed against its source (YYYY-MM-DD, not after the directory's version 2026-11-21) or \"unconfirmed\"")
    );
    // Not a calendar date, on an entity.
    let e = msg(&BASE.replace(
        "confirmed = \"unconfirmed\"",
        "confirmed = \"2026-02-31\"\nsource = \"imprint\"",
    ));
    assert_eq!(
        e,
        "test.toml: provider \"example\", field `entity[0].confirmed`: \"2026-02-31\" is not a date YYYY-MM-DD; expected the date the fact was last confirmed against its source (YYYY-MM-DD, not after the directory's version 2026-11-21) or \"unconfirmed\""
    );
    // After the directory's version, on a channel.
    let e = msg(&BASE.replace("2026-11-20", "2026-11-22"));
    assert!(
        e.contains("field `notice[0].confirmed`: \"2026-11-22\" is after the directory's version;"),
        "{e}"
    );
    // Other spellings of "unconfirmed" or of a date, and a region list without it.
    for bad in [
        "Unconfirmed",
        "no",
        "2026-11-2",
        "20261120",
        "2026/11/20",
        "",
    ] {
        let e = msg(&BASE.replace("2026-11-20", bad));
        assert!(e.contains("field `notice[0].confirmed`: "), "{bad:?}: {e}");
        assert!(
            e.ends_with(expected.split(", not").last().unwrap_or("")),
            "{e}"
        );
    }
    let regions =
        "[provider.regions]\nscheme = \"x-<dir>-N\"\nsource = \"docs\"\n\n[[provider.region]]";
    let e = msg(&BASE.replacen("[[provider.region]]", regions, 1));
    assert!(
        e.contains("provider \"example\", field `regions.confirmed`: missing;"),
        "{e}"
    );
    // The old boolean is refused outright.
    let e = msg(&BASE.replace("confirmed = \"unconfirmed\"", "verified = true"));
    assert!(e.contains("unknown field `verified`"), "{e}");
}

#[test]
fn a_dated_entity_or_region_list_names_its_source() {
    let e = load_err(&BASE.replace("confirmed = \"unconfirmed\"", "confirmed = \"2026-11-01\""))
        .to_string();
    assert!(
        e.contains("provider \"example\", field `entity[0].source`: expected the source that confirmed the fact on its `confirmed` date"),
        "{e}"
    );
    let dated = BASE.replace(
        "confirmed = \"unconfirmed\"",
        "confirmed = \"2026-11-01\"\nsource = \"example.net/imprint (dated 2026-11-01)\"",
    );
    let dir = match Directory::from_toml(&dated, "t") {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    let p = dir.provider("example").expect("provider");
    assert_eq!(p.entities[0].confirmed.to_string(), "2026-11-01");
    assert_eq!(p.notices[0].confirmed.to_string(), "2026-11-20");
    let json = serde_json::to_value(&p.entities[0]).expect("json");
    assert_eq!(json["confirmed"], "2026-11-01");
}

#[test]
fn bundled_facts_are_dated_only_where_a_source_states_the_date() {
    // Every channel, entity and region list of the bundled directory carries
    // `confirmed` (the type makes it so); a dated one names its source, and the
    // dates are those the sources state (feed dates, a dated page), none after the
    // directory's version.
    let dir = bundled();
    let version = crate::times::parse_date(dir.version()).expect("version");
    let mut dated = Vec::new();
    for p in dir.providers() {
        for (i, n) in p.notices.iter().enumerate() {
            assert!(!n.source.trim().is_empty(), "{} notice[{i}]", p.id);
            if let Some(d) = n.confirmed.date() {
                assert!(d <= version);
                assert!(
                    n.source.contains(&n.confirmed.to_string()),
                    "{} notice[{i}]",
                    p.id
                );
                dated.push(format!("{} notice[{i}] {}", p.id, n.confirmed));
            }
        }
        for (i, e) in p.entities.iter().enumerate() {
            if e.confirmed.is_confirmed() {
                assert!(e.source.is_some(), "{} entity[{i}]", p.id);
                dated.push(format!("{} entity[{i}] {}", p.id, e.confirmed));
            }
        }
        if let Some(r) = &p.region_scheme {
            if r.confirmed.is_confirmed() {
                assert!(
                    r.source.contains(&r.confirmed.to_string()),
                    "{} regions",
                    p.id
                );
                dated.push(format!("{} regions {}", p.id, r.confirmed));
            }
        }
    }
    assert_eq!(
        dated,
        [
            "aws notice[1] 2017-11-01",
            "aws regions 2025-07-24",
            "gcp regions 2025-07-24",
            "oracle regions 2025-07-21",
        ]
    );
}

#[test]
fn invalid_country_code_is_refused() {
    let err = load_err(&BASE.replace("country = \"US\"\nrole", "country = \"usa\"\nrole"));
    assert!(
        matches!(&err, DirectoryError::InvalidCountry { field, found, .. } if field == "entity[0].country" && found == "usa"),
        "{err}"
    );
    let err = load_err(&BASE.replace(
        "city = \"Springfield\"\ncountry = \"US\"",
        "city = \"Springfield\"\ncountry = \"EU\"",
    ));
    assert!(
        matches!(&err, DirectoryError::InvalidCountry { .. }),
        "{err}"
    );
}

#[test]
fn example_that_does_not_match_its_pattern_is_refused() {
    let err = load_err(&BASE.replace(
        "host = \"a.xx-east-1.example.net\"",
        "host = \"a.example.org\"",
    ));
    assert!(
        matches!(&err, DirectoryError::ExampleMismatch { host, .. } if host == "a.example.org"),
        "{err}"
    );
}

#[test]
fn bad_version_and_unknown_keys_are_refused() {
    let err = load_err(&BASE.replace("version = \"2026-11-21\"", "version = \"yesterday\""));
    assert!(matches!(err, DirectoryError::Version { .. }), "{err}");
    let err = load_err(&BASE.replace("asns = [64500]", "asns = [64500]\nasn_typo = [1]"));
    assert!(matches!(err, DirectoryError::Parse { .. }), "{err}");
}

/// Throughput figure, not a pass/fail check: run with
/// `cargo test --lib attribute::directory::tests::match_hostname_throughput -- --ignored --nocapture`.
#[test]
#[ignore]
fn match_hostname_throughput() {
    let dir = bundled();
    let names: Vec<String> = (0..10_000)
        .map(|i| match i % 4 {
            0 => format!("b{i}.oss-cn-hangzhou.aliyuncs.com"),
            1 => format!(
                "ec2-3-120-{}-{}.eu-central-1.compute.amazonaws.com",
                i % 250,
                i % 200
            ),
            2 => format!("www{i}.example.com"),
            _ => format!("cdn{i}.some-site.net"),
        })
        .collect();
    let start = std::time::Instant::now();
    let mut matched = 0usize;
    for _ in 0..10 {
        for name in &names {
            matched += usize::from(dir.match_hostname(name).is_some());
        }
    }
    let elapsed = start.elapsed();
    let per = elapsed.as_nanos() / 100_000;
    println!("100000 lookups ({matched} matched) in {elapsed:?}: {per} ns per name");
    let start = std::time::Instant::now();
    for _ in 0..10 {
        if let Err(e) = Directory::bundled() {
            panic!("{e}");
        }
    }
    println!("bundled directory load: {:?} each", start.elapsed() / 10);
}

#[test]
fn data_readme_states_the_hash_of_the_bundled_file() {
    // data/README.md promises the SHA-256 of providers.toml for provenance; a change to
    // the file without updating the README would make that promise false.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/README.md");
    let readme = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => panic!("{}: {e}", path.display()),
    };
    let dir = bundled();
    assert!(
        readme.contains(dir.sha256()),
        "data/README.md must state sha256 {} of data/providers.toml",
        dir.sha256()
    );
}

#[test]
fn truncated_and_mangled_example_names_never_panic() {
    // Cut every example at every character boundary and flip case and dots: the
    // matcher must answer (match or not), never panic.
    let dir = bundled();
    for p in dir.providers() {
        for pattern in &p.hostname_patterns {
            for example in &pattern.examples {
                let host = example.host.as_str();
                for (cut, _) in host.char_indices() {
                    let _ = dir.match_hostname(host.get(..cut).unwrap_or_default());
                    let _ = dir.match_hostname(host.get(cut..).unwrap_or_default());
                }
                let _ = dir.match_hostname(&host.replace('.', ".."));
                let _ = dir.match_hostname(&format!("{host}\u{0}"));
            }
        }
    }
}

#[test]
fn feed_services_parse_and_match_a_tag_with_its_region_suffix() {
    let text = format!(
        "{BASE}\n[[provider.feed_service]]\nservice = \"Cloud\"\nmodel = \"iaas\"\nwhat = \"compute\"\n"
    );
    let dir = match Directory::from_toml(&text, "test.toml") {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    let fs = &dir
        .provider("example")
        .map(|p| p.feed_services.clone())
        .unwrap_or_default()[0];
    assert!(fs.matches("Cloud") && fs.matches("Cloud.westeurope"));
    assert!(!fs.matches("CloudFront") && !fs.matches("Clou"));
    assert_eq!(fs.model, Some(ServiceModel::Iaas));
}

#[test]
fn a_feed_service_model_or_first_party_provider_that_does_not_exist_is_refused() {
    let bad_model = format!(
        "{BASE}\n[[provider.feed_service]]\nservice = \"X\"\nmodel = \"cloud\"\nwhat = \"x\"\n"
    );
    assert!(matches!(
        load_err(&bad_model),
        DirectoryError::UnknownServiceModel { .. }
    ));
    let unknown = format!(
        "{BASE}\n[provider.outside_feed]\nfeed = \"aws-ip-ranges\"\nasns = [64500]\nprovider = \"nobody\"\nstrength = \"strong\"\nwhat = \"x\"\n"
    );
    let e = load_err(&unknown).to_string();
    assert!(
        e.contains("outside_feed.provider") && e.contains("nobody"),
        "{e}"
    );
    let strength = unknown.replace("\"nobody\"", "\"example\"").replace(
        "strength = \"strong\"\nwhat = \"x\"",
        "strength = \"certain\"\nwhat = \"x\"",
    );
    assert!(load_err(&strength)
        .to_string()
        .contains("outside_feed.strength"));
}

proptest::proptest! {
    /// Patterns made of pieces of the allowed syntax and of what it refuses (so that
    /// many are accepted, not only refused): the check never panics, and what it
    /// accepts compiles, anchored at both ends.
    #[test]
    fn accepted_patterns_compile_and_stay_anchored(
        pieces in proptest::collection::vec(
            proptest::sample::select(vec![
                "a", "z", "0", "-", "_", ".", r"\.", r"\-", "[a-z]", "[^.]", "[0-9-]",
                "(?:", "(?P<region>", ")", "|", "+", "*", "?", "{2}", "{1,3}", "{2,}",
                r"\d", "$", "^", "[", "]", "{", "(", "(?i)",
            ]),
            0..12,
        ),
    ) {
        let pattern = format!("^{}$", pieces.concat());
        if check_pattern_syntax(&pattern).is_ok() {
            let re = Regex::new(&pattern).expect("an accepted pattern compiles");
            // Anchored: whatever it matches, it matches whole.
            for hay in ["", "a", "ab.example.net", "x-1_", "us-east-1"] {
                if let Some(m) = re.find(hay) {
                    proptest::prop_assert_eq!((m.start(), m.end()), (0, hay.len()));
                }
            }
        }
    }
}
