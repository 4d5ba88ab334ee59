//! Notices to providers: one complete letter per provider hosting a targeted service,
//! in the provider's language and legal frame (CN: 民法典 Art. 1195 and 信息网络传播权
//! 保护条例; US: DMCA 512(c)(3); EU: DSA Art. 16), in Markdown and printable HTML.
//!
//! A letter is built from the report (which endpoints, names and times), the claimant
//! profile (who, which works, who signs), the provider directory (which entity, which
//! notice channel, which service model) and, when given, the case directory (notarial
//! certificate, SM3, attachments). The measures it asks for follow the provider's
//! service model (LEGAL.md CN-8): an IaaS provider is asked to forward the notice and
//! keep logs, never to delete; a CDN to forward to the origin and name the host.
//!
//! Every letter is checked by [`lint`] after rendering; a letter that lacks a required
//! element is rendered again marked DRAFT, with the missing IDs at its top.
//!
//! Contract: nothing from a capture or a profile reaches the output unescaped (see
//! [`render`]); output bytes depend only on the inputs and the letter date, never on
//! the clock; bad input is a [`LetterError`], never a panic.

pub mod claimant;
pub mod elements;
pub mod input;
pub mod lint;
pub mod render;

pub use claimant::Claimant;
pub use elements::{Element, Frame};
pub use lint::{lint, LintReport, Missing};

use crate::attribute::directory::{Directory, NoticeChannel, NoticeFrame, NoticePurpose, Provider};
use input::{Case, Report};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use time::{Date, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// The placeholder a template writes for a fact the inputs do not give; `lint` treats
/// a value holding it as absent.
pub const MISSING: &str = "[MISSING]";

#[derive(Debug, thiserror::Error)]
pub enum LetterError {
    #[error(transparent)]
    Input(#[from] input::InputError),
    #[error("template {name}: {message}")]
    Template { name: String, message: String },
    #[error("{path}: cannot read template directory: {source}")]
    TemplateDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("--frame/--lang: {0}")]
    Choice(String),
}

/// Where an addressee (the notice channel a letter goes to) came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AddresseeSource {
    /// The bundled (or given) provider directory, `data/providers.toml`.
    Directory,
    /// An abuse contact read from the RDAP record of the address (RFC 9083).
    Rdap,
    /// Given by the user on the command line.
    User,
}

/// The legal entity a letter is addressed to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EntityRef {
    pub name: String,
    pub country: String,
    pub address: Option<String>,
    pub role: String,
    pub verified: bool,
}

/// Where a letter goes and why that channel (CN-10, US-7).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Addressee {
    pub source: AddresseeSource,
    /// `email`, `web_form` or `postal`.
    pub kind: String,
    /// The address, URL or postal address; `None` when not known (`reason` says why).
    pub target: Option<String>,
    pub reason: Option<String>,
    /// Whether the target was confirmed against the provider's own pages.
    pub verified: bool,
    /// `copyright`, `dmca_agent`, `abuse`, ... (directory channels).
    pub purpose: Option<String>,
    /// The channel is designated for notices of the letter's frame.
    pub frame_match: bool,
    pub jurisdiction: Option<String>,
    /// The provenance of the contact: the directory's `source` note, the RDAP URL and
    /// query time, or "given on the command line".
    pub provenance: String,
    pub entity: Option<EntityRef>,
}

impl Addressee {
    /// An abuse contact found in an RDAP answer (RFC 9083 §5.1 entity with role
    /// `abuse`), to take the directory channel's place; labelled as such in the letter.
    pub fn from_rdap(email: &str, rdap_url: &str, queried_utc: &str) -> Addressee {
        Addressee {
            source: AddresseeSource::Rdap,
            kind: "email".into(),
            target: Some(email.to_string()),
            reason: None,
            verified: false,
            purpose: Some("abuse".into()),
            frame_match: false,
            jurisdiction: None,
            provenance: format!("RDAP {rdap_url}, queried {queried_utc}"),
            entity: None,
        }
    }

    /// The best abuse contact of an RDAP record in a report, labelled with where it was
    /// read (an abuse entity, the remarks, or an RFC 2142 guess).
    pub fn from_rdap_contact(c: &input::AbuseContact, r: &input::RdapRecord) -> Addressee {
        let (kind, target) = match (&c.email, &c.url) {
            (Some(e), _) => ("email", e.clone()),
            (None, Some(u)) => ("web_form", u.clone()),
            (None, None) => ("email", String::new()),
        };
        let how = match c.source.as_str() {
            "rdap_abuse_entity" => format!(
                "the abuse contact{} of the RDAP record",
                c.from.as_deref().map(|h| format!(" {h}")).unwrap_or_default()
            ),
            "rdap_remarks" => "an address named in the RDAP record's remarks".to_string(),
            _ => "an RFC 2142 abuse@ guess from a domain of the RDAP record (last resort, not confirmed by the registry)".to_string(),
        };
        Addressee {
            source: AddresseeSource::Rdap,
            kind: kind.into(),
            target: (!target.is_empty()).then_some(target),
            reason: None,
            verified: false,
            purpose: Some("abuse".into()),
            frame_match: false,
            jurisdiction: None,
            provenance: format!(
                "{how}{}{}, {} (queried {})",
                r.handle
                    .as_deref()
                    .map(|h| format!(" for {h}"))
                    .unwrap_or_default(),
                r.range
                    .as_deref()
                    .map(|x| format!(" ({x})"))
                    .unwrap_or_default(),
                r.url,
                r.time_utc
            ),
            entity: None,
        }
    }

    /// A contact the user gives (`--to PROVIDER=TARGET`).
    pub fn from_user(target: &str) -> Addressee {
        let kind = if target.starts_with("https://") || target.starts_with("http://") {
            "web_form"
        } else if target.contains('@') && !target.contains(char::is_whitespace) {
            "email"
        } else {
            "postal"
        };
        Addressee {
            source: AddresseeSource::User,
            kind: kind.into(),
            target: Some(target.to_string()),
            reason: None,
            verified: false,
            purpose: None,
            frame_match: false,
            jurisdiction: None,
            provenance: "given on the command line".into(),
            entity: None,
        }
    }
}

/// What the drafting is told besides its inputs.
#[derive(Clone, Debug, Default)]
pub struct DraftOptions {
    /// The date the letter bears.
    pub date: Option<Date>,
    /// Frame for every letter (`--frame cn`).
    pub frame: Option<Frame>,
    /// Frame for one provider (`--frame aws=dsa`), stronger than `frame`.
    pub frame_for: BTreeMap<String, Frame>,
    /// Language (`zh-CN` or `en`), when no frame is forced.
    pub language: Option<String>,
    /// Addressees replacing the directory's channel, per provider id.
    pub addressee_for: BTreeMap<String, Addressee>,
    /// Notarial certificate number (`--notary-cert`), stronger than the case's.
    pub notary_certificate: Option<String>,
    /// SM3 per capture path or file name (`--sm3 CAPTURE=HEX`).
    pub sm3: BTreeMap<String, String>,
    /// A directory with templates replacing the bundled ones (same file names).
    pub templates: Option<PathBuf>,
    /// Only these providers (all when empty).
    pub providers: Vec<String>,
}

/// A rendered letter.
#[derive(Clone, Debug)]
pub struct Letter {
    pub provider: String,
    pub frame: Frame,
    pub service_model: String,
    pub measures: Vec<&'static str>,
    pub addressee: Addressee,
    pub markdown: String,
    pub html: String,
    /// Required elements the letter lacks (then it is marked DRAFT).
    pub missing: Vec<Missing>,
}

impl Letter {
    /// File name stem, built only from the directory's provider id and the frame.
    pub fn stem(&self) -> String {
        format!("{}.{}", self.provider, self.frame)
    }
}

/// A service endpoint no letter covers, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    pub service: String,
    pub endpoint: String,
    pub reason: String,
}

#[derive(Clone, Debug, Default)]
pub struct Drafts {
    pub letters: Vec<Letter>,
    pub skipped: Vec<Skipped>,
    /// The report names no `--target`: the letters cover every attributed service,
    /// which may include services that are not the infringing ones (a DNS resolver).
    pub untargeted: bool,
}

/// One letter per provider hosting a service of the report.
pub fn draft(
    report: &Report,
    claimant: &Claimant,
    case: Option<&Case>,
    directory: &Directory,
    opts: &DraftOptions,
) -> Result<Drafts, LetterError> {
    let env = render::Templates::load(opts.templates.as_deref())?;
    let mut out = Drafts {
        untargeted: report.targets.is_empty(),
        ..Drafts::default()
    };
    // provider id -> (service index, endpoint index)
    let mut by_provider: BTreeMap<String, Vec<(usize, usize)>> = BTreeMap::new();
    // Holders the directory does not list, known from an RDAP record with an abuse
    // contact: id -> (endpoints, record, contacts).
    let mut by_rdap: BTreeMap<String, RdapHolder> = BTreeMap::new();
    for (si, s) in report.services.iter().enumerate() {
        for (ei, e) in s.endpoints.iter().enumerate() {
            let endpoint = format!("{}:{}/{}", e.ip, e.port, e.transport);
            let (provider_attr, _) = s.attribution_of(e);
            let attributed = provider_attr.and_then(|p| p.id.clone());
            let listed = attributed
                .as_deref()
                .is_some_and(|id| directory.provider(id).is_some());
            if !listed {
                if let Some((id, holder)) = rdap_holder(s.attribution_entry(e)) {
                    if opts.providers.is_empty() || opts.providers.contains(&id) {
                        by_rdap.entry(id).or_insert(holder).refs.push((si, ei));
                    }
                    continue;
                }
            }
            match attributed {
                Some(id) if directory.provider(&id).is_some() => {
                    if opts.providers.is_empty() || opts.providers.contains(&id) {
                        by_provider.entry(id).or_default().push((si, ei));
                    }
                }
                Some(id) => out.skipped.push(Skipped {
                    service: s.label.clone(),
                    endpoint,
                    reason: format!("provider {id:?} is not in the provider directory"),
                }),
                None => out.skipped.push(Skipped {
                    service: s.label.clone(),
                    endpoint,
                    reason: provider_attr
                        .and_then(|p| p.reason.clone())
                        .unwrap_or_else(|| "no provider attributed".into()),
                }),
            }
        }
    }
    for (id, holder) in by_rdap {
        let provider = Provider::unlisted(&id, &holder.name, &holder.jurisdiction, Vec::new());
        let mut o = opts.clone();
        o.addressee_for.insert(id.clone(), holder.addressee.clone());
        let frame = choose_frame(&provider, claimant, &o)?;
        let mut ctx = build_context(
            report,
            claimant,
            case,
            directory,
            &provider,
            frame,
            &holder.refs,
            &o,
        );
        if ctx.provider.service_model_source != "report attribution" {
            ctx.provider.service_model_source = "not in the provider directory: the measures for a network holder (forward to the customer, keep logs)".into();
        }
        let (markdown, html, missing) = env.render_checked(frame, &mut ctx)?;
        out.letters.push(Letter {
            provider: id,
            frame,
            service_model: ctx.provider.service_model.clone(),
            measures: ctx.measures.clone(),
            addressee: ctx.addressee.clone(),
            markdown,
            html,
            missing,
        });
    }
    for (id, refs) in by_provider {
        let Some(provider) = directory.provider(&id) else {
            continue;
        };
        let frame = choose_frame(provider, claimant, opts)?;
        let mut ctx = build_context(
            report, claimant, case, directory, provider, frame, &refs, opts,
        );
        let (markdown, html, missing) = env.render_checked(frame, &mut ctx)?;
        out.letters.push(Letter {
            provider: id,
            frame,
            service_model: ctx.provider.service_model.clone(),
            measures: ctx.measures.clone(),
            addressee: ctx.addressee.clone(),
            markdown,
            html,
            missing,
        });
    }
    Ok(out)
}

/// An address holder the directory does not list, from the RDAP record of a block.
struct RdapHolder {
    name: String,
    jurisdiction: String,
    addressee: Addressee,
    refs: Vec<(usize, usize)>,
}

/// A file-name-safe id for an RDAP holder: `rdap-` and the handle (or range) in
/// lower-case letters, digits and `-`.
fn rdap_id(text: &str) -> String {
    let mut id = String::from("rdap-");
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            id.push(c);
        } else if !id.ends_with('-') {
            id.push('-');
        }
        if id.len() >= 48 {
            break;
        }
    }
    id.trim_end_matches('-').to_string()
}

/// The RDAP holder of an address, when the report has its record and an abuse contact.
fn rdap_holder(entry: Option<&input::AddressAttribution>) -> Option<(String, RdapHolder)> {
    let entry = entry?;
    let r = entry.rdap.as_ref()?;
    let best = entry.abuse_contacts.iter().min_by_key(|c| c.rank)?;
    let id = rdap_id(
        r.handle
            .as_deref()
            .or(r.range.as_deref())
            .unwrap_or(&entry.ip),
    );
    let name = format!(
        "{}holder of {}{}",
        r.name
            .as_deref()
            .map(|n| format!("{n}: "))
            .unwrap_or_default(),
        r.range.as_deref().unwrap_or(&entry.ip),
        r.handle
            .as_deref()
            .map(|h| format!(" (RDAP handle {h})"))
            .unwrap_or_default()
    );
    let jurisdiction = r
        .country
        .clone()
        .filter(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()))
        .unwrap_or_default();
    let addressee = Addressee::from_rdap_contact(best, r);
    Some((
        id,
        RdapHolder {
            name,
            jurisdiction,
            addressee,
            refs: Vec::new(),
        },
    ))
}

/// EU member states (ISO 3166-1 alpha-2; Greece is `GR`, ISO's code, not `EL`).
const EU_MEMBERS: &[&str] = &[
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT",
    "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
];

fn is_eu(code: &str) -> bool {
    code == "EU" || EU_MEMBERS.contains(&code)
}

/// The frame for a provider: an override for it, then `--frame`, then `--lang`, then
/// the provider's jurisdiction (CN, US, EU), then the claimant's preference.
pub fn choose_frame(
    provider: &Provider,
    claimant: &Claimant,
    opts: &DraftOptions,
) -> Result<Frame, LetterError> {
    if let Some(f) = opts.frame_for.get(&provider.id) {
        return Ok(*f);
    }
    if let Some(f) = opts.frame {
        return Ok(f);
    }
    let j = provider.jurisdiction.as_str();
    if let Some(lang) = &opts.language {
        let l = lang.to_ascii_lowercase();
        return if l.starts_with("zh") {
            Ok(Frame::Cn)
        } else if l.starts_with("en") {
            Ok(if is_eu(j) { Frame::Dsa } else { Frame::Dmca })
        } else {
            Err(LetterError::Choice(format!(
                "no templates in language {lang:?}; expected zh-CN or en"
            )))
        };
    }
    if j == "CN" {
        return Ok(Frame::Cn);
    }
    if j == "US" {
        return Ok(Frame::Dmca);
    }
    if is_eu(j) {
        return Ok(Frame::Dsa);
    }
    if let Some(f) = claimant.frame.as_deref().and_then(|f| f.parse().ok()) {
        return Ok(f);
    }
    let zh = claimant
        .languages
        .first()
        .is_some_and(|l| l.to_ascii_lowercase().starts_with("zh"));
    Ok(if zh { Frame::Cn } else { Frame::Dmca })
}

fn frame_jurisdiction(frame: Frame) -> &'static str {
    match frame {
        Frame::Cn => "CN",
        Frame::Dmca => "US",
        Frame::Dsa => "EU",
    }
}

fn jurisdiction_fits(frame: Frame, code: &str) -> bool {
    match frame {
        Frame::Dsa => is_eu(code),
        _ => code == frame_jurisdiction(frame),
    }
}

/// The directory's notice channel for a frame: designated for the frame first, then
/// for copyright (or the DMCA agent), then in the frame's jurisdiction and language,
/// then with a known target, then confirmed. Law-enforcement channels are never used.
pub fn choose_channel(provider: &Provider, frame: Frame) -> Option<&NoticeChannel> {
    provider
        .notices
        .iter()
        .filter(|c| c.purpose != NoticePurpose::LawEnforcement)
        .min_by_key(|c| {
            let copyright = matches!(c.purpose, NoticePurpose::Copyright)
                || (frame == Frame::Dmca && c.purpose == NoticePurpose::DmcaAgent);
            (
                !same_frame(c.frame, frame),
                !copyright,
                !jurisdiction_fits(frame, &c.jurisdiction),
                !c.language
                    .starts_with(frame.language().get(..2).unwrap_or("")),
                c.target.is_none(),
                !c.verified,
            )
        })
}

fn same_frame(channel: Option<NoticeFrame>, frame: Frame) -> bool {
    matches!(
        (channel, frame),
        (Some(NoticeFrame::Cn), Frame::Cn)
            | (Some(NoticeFrame::Dmca), Frame::Dmca)
            | (Some(NoticeFrame::Dsa), Frame::Dsa)
    )
}

fn choose_entity(provider: &Provider, frame: Frame) -> Option<EntityRef> {
    let e = provider
        .entities
        .iter()
        .find(|e| jurisdiction_fits(frame, &e.country))
        .or_else(|| provider.entities.first())?;
    Some(EntityRef {
        name: e.name.clone(),
        country: e.country.clone(),
        address: e.address.clone(),
        role: e.role.clone(),
        verified: e.verified,
    })
}

fn directory_addressee(provider: &Provider, frame: Frame) -> Addressee {
    let entity = choose_entity(provider, frame);
    match choose_channel(provider, frame) {
        Some(c) => Addressee {
            source: AddresseeSource::Directory,
            kind: serde_plain(&c.kind),
            target: c.target.clone(),
            reason: c.reason.clone(),
            verified: c.verified,
            purpose: Some(serde_plain(&c.purpose)),
            frame_match: same_frame(c.frame, frame),
            jurisdiction: Some(c.jurisdiction.clone()),
            provenance: c.source.clone(),
            entity,
        },
        None => Addressee {
            source: AddresseeSource::Directory,
            kind: "email".into(),
            target: None,
            reason: Some("unknown: the provider directory lists no notice channel".into()),
            verified: false,
            purpose: None,
            frame_match: false,
            jurisdiction: None,
            provenance: "provider directory".into(),
            entity,
        },
    }
}

/// The serde spelling of a unit enum (`web_form`).
fn serde_plain<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// The measures a letter asks for, by service model (LEGAL.md CN-8; (2019)京73民终1194号:
/// deleting data or shutting down a cloud server is not proportionate, forwarding is).
pub fn measures_for(service_model: &str) -> Vec<&'static str> {
    match service_model {
        "iaas" => vec![
            "forward_to_customer",
            "preserve_logs",
            "disclose_on_legal_process",
        ],
        "cdn" => vec![
            "forward_to_origin",
            "disclose_hosting_provider",
            "preserve_logs",
        ],
        _ => vec!["remove_or_disable", "preserve_logs"],
    }
}

/// A time from the report, in UTC and in the claimant's offset.
#[derive(Clone, Debug, Serialize)]
pub struct When {
    pub utc: minijinja::Value,
    pub local: minijinja::Value,
}

/// Parses the report's RFC 3339 UTC form `YYYY-MM-DDTHH:MM:SS.fffffffffZ`.
fn parse_utc(text: &str) -> Option<OffsetDateTime> {
    let (date, rest) = text.split_once('T')?;
    let rest = rest.strip_suffix('Z')?;
    let mut d = date.splitn(3, '-');
    let y: i32 = d.next()?.parse().ok()?;
    let mo: u8 = d.next()?.parse().ok()?;
    let day: u8 = d.next()?.parse().ok()?;
    let (hms, frac) = match rest.split_once('.') {
        Some((a, b)) => (a, b),
        None => (rest, "0"),
    };
    let mut t = hms.splitn(3, ':');
    let h: u8 = t.next()?.parse().ok()?;
    let mi: u8 = t.next()?.parse().ok()?;
    let s: u8 = t.next()?.parse().ok()?;
    if frac.is_empty() || frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let nanos: u32 = format!("{frac:0<9}").parse().ok()?;
    let date = Date::from_calendar_date(y, time::Month::try_from(mo).ok()?, day).ok()?;
    let time = Time::from_hms_nano(h, mi, s, nanos).ok()?;
    Some(PrimitiveDateTime::new(date, time).assume_utc())
}

fn fmt_time(t: OffsetDateTime, zone: &str) -> String {
    let frac = if t.nanosecond().is_multiple_of(1000) {
        format!("{:06}", t.nanosecond() / 1000)
    } else {
        format!("{:09}", t.nanosecond())
    };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{} {}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        frac,
        zone
    )
}

pub fn fmt_offset(o: UtcOffset) -> String {
    let (h, m, _) = o.as_hms();
    let sign = if o.is_negative() { '-' } else { '+' };
    format!("{sign}{:02}:{:02}", h.unsigned_abs(), m.unsigned_abs())
}

fn when(text: Option<&str>, offset: UtcOffset) -> When {
    match text.and_then(parse_utc) {
        Some(t) => When {
            // Built from numbers only: nothing to escape.
            utc: minijinja::Value::from_safe_string(fmt_time(t, "UTC")),
            local: minijinja::Value::from_safe_string(fmt_time(
                t.to_offset(offset),
                &fmt_offset(offset),
            )),
        },
        // Unparseable text stays untrusted and is escaped on output.
        None => {
            let raw = minijinja::Value::from(text.unwrap_or(MISSING));
            When {
                utc: raw.clone(),
                local: raw,
            }
        }
    }
}

/// One row of a letter's evidence table: one server endpoint.
#[derive(Clone, Debug, Serialize)]
pub struct EvidenceRow {
    pub ip: String,
    pub port: u16,
    pub transport: String,
    pub hostnames: Vec<String>,
    /// `https://name/` style locations built from the names and the port.
    pub locations: Vec<String>,
    pub region: Option<String>,
    pub first_seen: When,
    pub last_seen: When,
    pub frames: String,
    pub bytes: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct CaptureEvidence {
    pub name: String,
    pub sha256: String,
    pub sm3: Option<String>,
    pub sm3_source: Option<String>,
    pub first_seen: When,
    pub last_seen: When,
}

#[derive(Clone, Debug, Serialize)]
pub struct Attachment {
    pub label: String,
    pub detail: String,
    pub size: Option<u64>,
    pub sha256: Option<String>,
    pub sm3: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ProviderCtx {
    pub id: String,
    pub name_en: String,
    pub name_zh: Option<String>,
    pub jurisdiction: String,
    pub service_model: String,
    /// Where the service model came from.
    pub service_model_source: String,
    pub attribution: Vec<String>,
    /// What the sender must check before sending: data far from the capture's time,
    /// an RDAP contact that differs from the directory's.
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Notary {
    pub certificate: Option<String>,
    pub certificate_source: Option<String>,
    pub name: Option<String>,
    pub case_id: Option<String>,
    pub case_title: Option<String>,
}

/// Everything a template sees.
#[derive(Clone, Debug, Serialize)]
pub struct Context {
    pub frame: Frame,
    pub language: &'static str,
    pub date: minijinja::Value,
    pub timezone: minijinja::Value,
    pub claimant: claimant::Party,
    pub agent: Option<claimant::Agent>,
    pub works: Vec<claimant::Work>,
    pub signature: claimant::Signature,
    pub provider: ProviderCtx,
    pub addressee: Addressee,
    pub measures: Vec<&'static str>,
    pub rows: Vec<EvidenceRow>,
    pub observed_from: When,
    pub observed_to: When,
    pub captures: Vec<CaptureEvidence>,
    pub notary: Notary,
    pub attachments: Vec<Attachment>,
    pub directory_version: String,
    pub tool_version: &'static str,
    /// The missing elements when the letter is a draft.
    pub draft: Vec<Missing>,
    pub missing: minijinja::Value,
}

/// At most this many frame numbers per row; the rest are counted.
const MAX_FRAMES_SHOWN: usize = 12;

#[allow(clippy::too_many_arguments)]
fn build_context(
    report: &Report,
    claimant: &Claimant,
    case: Option<&Case>,
    directory: &Directory,
    provider: &Provider,
    frame: Frame,
    refs: &[(usize, usize)],
    opts: &DraftOptions,
) -> Context {
    // The claimant's time zone, else the case's, else UTC.
    let offset = match (
        &claimant.timezone,
        case.and_then(|c| c.info.time_zone.as_deref()),
    ) {
        (None, Some(tz)) => claimant::parse_offset(tz).unwrap_or(UtcOffset::UTC),
        _ => claimant.offset(),
    };
    let multi_capture = report.captures.len() > 1;
    let mut rows = Vec::new();
    let mut models = std::collections::BTreeSet::new();
    let mut attribution = std::collections::BTreeSet::new();
    let mut notes = std::collections::BTreeSet::new();
    let mut first: Option<OffsetDateTime> = None;
    let mut last: Option<OffsetDateTime> = None;
    let mut first_text = None;
    let mut last_text = None;
    for &(si, ei) in refs {
        let (Some(s), Some(e)) = (
            report.services.get(si),
            report.services.get(si).and_then(|s| s.endpoints.get(ei)),
        ) else {
            continue;
        };
        let (provider_attr, region_attr) = s.attribution_of(e);
        if let Some(entry) = s.attribution_entry(e) {
            for n in &entry.notes {
                notes.insert(format!("{}: {n}", e.ip));
            }
            // A listed provider whose RDAP record names another abuse contact than
            // any channel of the directory: shown beside it, for the sender to check.
            if !provider.notices.is_empty() || !provider.asns.is_empty() {
                if let (Some(r), Some(best)) = (
                    &entry.rdap,
                    entry.abuse_contacts.iter().min_by_key(|c| c.rank),
                ) {
                    let target = best.email.as_deref().or(best.url.as_deref()).unwrap_or("");
                    let known = provider.notices.iter().any(|n| {
                        n.target
                            .as_deref()
                            .is_some_and(|t| t.eq_ignore_ascii_case(target))
                    });
                    if !target.is_empty() && !known {
                        notes.insert(format!(
                            "RDAP ({}{}) names {target} as the abuse contact of {}'s block, which is not among the provider directory's channels for {}: check which to use before sending",
                            r.server,
                            r.handle.as_deref().map(|h| format!(", {h}")).unwrap_or_default(),
                            e.ip,
                            provider.id
                        ));
                    }
                }
            }
        }
        if let Some(p) = provider_attr {
            if let Some(m) = &p.service_model {
                models.insert(m.clone());
            }
            let src = p.source.as_ref().and_then(input::source_text);
            let conf = p.confidence.as_deref().unwrap_or("unknown confidence");
            attribution.insert(match (&p.evidence, src) {
                (Some(ev), _) => format!("{ev} ({conf})"),
                (None, Some(src)) => format!("{}: {src} ({conf})", e.ip),
                (None, None) => format!("{}: ({conf})", e.ip),
            });
        }
        let hostnames: Vec<String> = s.hostnames.iter().map(|h| h.name.clone()).collect();
        let scheme = match (e.transport.as_str(), e.port) {
            ("tcp", 443) | ("udp", 443) => Some("https"),
            ("tcp", 80) => Some("http"),
            _ => None,
        };
        let locations = hostnames
            .iter()
            .map(|h| match scheme {
                Some(sc) => format!("{sc}://{h}/"),
                None => format!("{h}:{}", e.port),
            })
            .collect();
        let mut frames: Vec<_> = s.frames.clone();
        frames.sort();
        frames.dedup();
        let shown: Vec<String> = frames
            .iter()
            .take(MAX_FRAMES_SHOWN)
            .map(|f| {
                if multi_capture {
                    format!("{}:{}", f.capture, f.frame)
                } else {
                    f.frame.to_string()
                }
            })
            .collect();
        let mut frames_text = shown.join(", ");
        if frames.len() > MAX_FRAMES_SHOWN {
            frames_text.push_str(&format!(" (+{})", frames.len() - MAX_FRAMES_SHOWN));
        }
        for (t, slot, txt, earlier) in [
            (&e.first_seen, &mut first, &mut first_text, true),
            (&e.last_seen, &mut last, &mut last_text, false),
        ] {
            if let Some(p) = t.as_deref().and_then(parse_utc) {
                let better = slot.is_none_or(|cur| if earlier { p < cur } else { p > cur });
                if better {
                    *slot = Some(p);
                    *txt = t.clone();
                }
            }
        }
        rows.push(EvidenceRow {
            ip: e.ip.clone(),
            port: e.port,
            transport: e.transport.clone(),
            hostnames,
            locations,
            region: region_attr.and_then(|r| match (&r.id, &r.city) {
                (Some(id), Some(city)) => Some(format!("{id} ({city})")),
                (Some(id), None) => Some(id.clone()),
                (None, Some(city)) => Some(city.clone()),
                (None, None) => None,
            }),
            first_seen: when(e.first_seen.as_deref(), offset),
            last_seen: when(e.last_seen.as_deref(), offset),
            frames: frames_text,
            bytes: e.bytes_to_server.saturating_add(e.bytes_to_client),
        });
    }
    rows.sort_by(|a, b| (&a.ip, a.port, &a.transport).cmp(&(&b.ip, b.port, &b.transport)));
    let (service_model, service_model_source) = match (models.len(), models.iter().next()) {
        (1, Some(m)) if matches!(m.as_str(), "iaas" | "cdn" | "hosting" | "paas") => {
            (m.clone(), "report attribution".to_string())
        }
        _ => (
            provider.service_model.as_str().to_string(),
            format!("provider directory {}", directory.version()),
        ),
    };
    let measures = measures_for(&service_model);
    let addressee = opts
        .addressee_for
        .get(&provider.id)
        .cloned()
        .map(|mut a| {
            if a.entity.is_none() {
                a.entity = choose_entity(provider, frame);
            }
            a
        })
        .unwrap_or_else(|| directory_addressee(provider, frame));

    // Captures and their hashes.
    let manifest = case.and_then(|c| c.manifest.as_ref());
    let captures = report
        .captures
        .iter()
        .map(|c| {
            let file = std::path::Path::new(&c.path)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            let from_cli = opts.sm3.get(&c.path).or_else(|| opts.sm3.get(&file));
            let from_case = manifest.and_then(|(rel, m)| {
                m.files
                    .iter()
                    .find(|f| f.sha256.as_deref() == Some(c.sha256.as_str()) && f.sm3.is_some())
                    .and_then(|f| f.sm3.clone().map(|h| (h, format!("case manifest {rel}"))))
            });
            let from_report = c
                .sm3
                .clone()
                .filter(|h| h.len() == 64)
                .map(|h| (h, "analysis report".to_string()));
            let (sm3, sm3_source) = match (from_cli, from_case.or(from_report)) {
                (Some(h), _) => (
                    Some(h.to_ascii_lowercase()),
                    Some("command line".to_string()),
                ),
                (None, Some((h, src))) => (Some(h), Some(src)),
                (None, None) => (None, None),
            };
            CaptureEvidence {
                name: c.path.clone(),
                sha256: c.sha256.clone(),
                sm3,
                sm3_source,
                first_seen: when(c.first_seen.as_deref(), offset),
                last_seen: when(c.last_seen.as_deref(), offset),
            }
        })
        .collect();
    let info = case.map(|c| &c.info);
    let (certificate, certificate_source) = match (
        &opts.notary_certificate,
        info.and_then(|i| i.notary_certificate.clone()),
    ) {
        (Some(n), _) => (Some(n.clone()), Some("command line".to_string())),
        (None, Some(n)) => (Some(n), Some("case.json".to_string())),
        (None, None) => (None, None),
    };
    let notary = Notary {
        certificate,
        certificate_source,
        name: info.and_then(|i| i.notary.clone()),
        case_id: info.and_then(|i| i.id.clone()),
        case_title: info.and_then(|i| i.title.clone()),
    };

    // Attachments: the documents the profile names, then the case's files.
    let mut attachments = Vec::new();
    let mut doc = |label: &str, v: &Option<String>| {
        if let Some(d) = v {
            attachments.push(Attachment {
                label: label.to_string(),
                detail: d.clone(),
                size: None,
                sha256: None,
                sm3: None,
            });
        }
    };
    doc("id_document", &claimant.rights_holder.id_document);
    if let Some(a) = &claimant.agent {
        doc("authorisation", &a.authorisation);
    }
    for w in &claimant.works {
        doc("proof_of_ownership", &w.proof_of_ownership);
        doc("comparison", &w.comparison);
    }
    match manifest {
        Some((rel, m)) => {
            let mut files: Vec<_> = m.files.iter().collect();
            files.sort_by(|a, b| a.path.cmp(&b.path));
            for f in files {
                attachments.push(Attachment {
                    label: "case_file".into(),
                    detail: f.path.clone(),
                    size: f.size,
                    sha256: f.sha256.clone(),
                    sm3: f.sm3.clone(),
                });
            }
            attachments.push(Attachment {
                label: "manifest".into(),
                detail: rel.clone(),
                size: None,
                sha256: None,
                sm3: None,
            });
        }
        None => {
            for c in &report.captures {
                attachments.push(Attachment {
                    label: "capture".into(),
                    detail: c.path.clone(),
                    size: None,
                    sha256: Some(c.sha256.clone()),
                    sm3: None,
                });
            }
        }
    }

    let date = opts
        .date
        .map(|d| format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()));
    Context {
        frame,
        language: frame.language(),
        date: match date {
            Some(d) => minijinja::Value::from_safe_string(d),
            None => minijinja::Value::from_safe_string(MISSING.to_string()),
        },
        timezone: minijinja::Value::from_safe_string(fmt_offset(offset)),
        claimant: claimant.rights_holder.clone(),
        agent: claimant.agent.clone(),
        works: claimant.works.clone(),
        signature: claimant.signature.clone(),
        provider: ProviderCtx {
            id: provider.id.clone(),
            name_en: provider.name_en.clone(),
            name_zh: provider.name_zh.clone(),
            jurisdiction: provider.jurisdiction.clone(),
            service_model,
            service_model_source,
            attribution: attribution.into_iter().collect(),
            notes: notes.into_iter().collect(),
        },
        addressee,
        measures,
        rows,
        observed_from: when(first_text.as_deref(), offset),
        observed_to: when(last_text.as_deref(), offset),
        captures,
        notary,
        attachments,
        directory_version: directory.version().to_string(),
        tool_version: env!("CARGO_PKG_VERSION"),
        draft: Vec::new(),
        missing: minijinja::Value::from_safe_string(MISSING.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_times_parse_and_shift_to_the_claimant_offset() {
        let t = parse_utc("2026-11-21T13:10:41.283153000Z").expect("parses");
        assert_eq!(fmt_time(t, "UTC"), "2026-11-21 13:10:41.283153 UTC");
        let off = UtcOffset::from_hms(8, 0, 0).expect("offset");
        assert_eq!(
            fmt_time(t.to_offset(off), &fmt_offset(off)),
            "2026-11-21 21:10:41.283153 +08:00"
        );
        for bad in [
            "",
            "2026-11-21",
            "2026-13-01T00:00:00Z",
            "2026-11-21T25:00:00Z",
            "x",
        ] {
            assert!(parse_utc(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn iaas_measures_never_ask_for_deletion() {
        let m = measures_for("iaas");
        assert!(m.contains(&"forward_to_customer"));
        assert!(!m.contains(&"remove_or_disable"));
        assert!(measures_for("cdn").contains(&"forward_to_origin"));
        assert!(measures_for("hosting").contains(&"remove_or_disable"));
    }
}
