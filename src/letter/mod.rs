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
//! Every letter is checked by [`lint()`] after rendering; a letter that lacks a required
//! element is rendered again marked DRAFT, with the missing IDs at its top.
//!
//! Contract: nothing from a capture or a profile reaches the output unescaped (see
//! [`render`]); output bytes depend only on the inputs and the letter date, never on
//! the clock; bad input is a [`LetterError`], never a panic.

pub mod claimant;
pub(crate) mod elements;
pub mod input;
pub mod lint;
pub mod render;

pub use claimant::Claimant;
pub use elements::{Element, Frame};
pub use lint::{lint, LintReport, Missing};

use crate::attribute::directory::{
    Confirmed, Directory, NoticeChannel, NoticeFrame, NoticePurpose, Provider,
};
use input::{Case, FrameId, Report};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
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
    /// When the directory's source last confirmed the name and address.
    pub confirmed: Confirmed,
    /// That source (`None` when unconfirmed).
    pub source: Option<String>,
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
    /// When the directory's source last confirmed the target (`provenance` names the
    /// source); contacts from RDAP or the command line are unconfirmed.
    pub confirmed: Confirmed,
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
            confirmed: Confirmed::Unconfirmed,
            purpose: Some("abuse".into()),
            frame_match: false,
            jurisdiction: None,
            provenance: format!("RDAP {rdap_url}, queried {queried_utc}"),
            entity: None,
        }
    }

    /// The best abuse contact of an RDAP record in a report, labelled with where it was
    /// read (an abuse entity, the remarks, or an RFC 2142 guess).
    pub(crate) fn from_rdap_contact(c: &input::AbuseContact, r: &input::RdapRecord) -> Addressee {
        let (kind, target) = match (&c.email, &c.url) {
            (Some(e), _) => ("email", e.clone()),
            (None, Some(u)) => ("web_form", u.clone()),
            (None, None) => ("email", String::new()),
        };
        use crate::attribute::rdap::ContactSource;
        let how = match c.source {
            ContactSource::RdapAbuseEntity => format!(
                "the abuse contact{} of the RDAP record",
                c.from.as_deref().map(|h| format!(" {h}")).unwrap_or_default()
            ),
            ContactSource::RdapRemarks => "an address named in the RDAP record's remarks".to_string(),
            ContactSource::Rfc2142Guess => "an RFC 2142 abuse@ guess from a domain of the RDAP record (last resort, not confirmed by the registry)".to_string(),
        };
        Addressee {
            source: AddresseeSource::Rdap,
            kind: kind.into(),
            target: (!target.is_empty()).then_some(target),
            reason: None,
            confirmed: Confirmed::Unconfirmed,
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
            confirmed: Confirmed::Unconfirmed,
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
    /// Language (`zh-CN`, `en`, `zh-CN+en` for Chinese letters followed by an
    /// English version, `en+zh-CN` for English letters followed by a Chinese
    /// version), when no frame is forced.
    pub language: Option<String>,
    /// Addressees replacing the directory's channel, per provider id.
    pub addressee_for: BTreeMap<String, Addressee>,
    /// Notarial certificate number (`--notary-cert`), stronger than the case's.
    pub notary_certificate: Option<String>,
    /// The notary (`--notary`), stronger than the case's. A letter says the capture
    /// was notarised only when both a notary and a certificate number are known.
    pub notary: Option<String>,
    /// SM3 per capture path or file name (`--sm3 CAPTURE=HEX`).
    pub sm3: BTreeMap<String, String>,
    /// A directory with templates replacing the bundled ones (same file names).
    pub templates: Option<PathBuf>,
    /// Only these providers (all when empty).
    pub providers: Vec<String>,
    /// The comparison with the originals from a `whohosts match` result (CN-7).
    pub comparison: Option<Comparison>,
}

/// The comparison of what was served with the originals, from a match result: one
/// row per original package, and the files found, with the hashes of both sides.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Comparison {
    /// The match result's file name and SHA-256.
    pub file: String,
    pub sha256: String,
    /// The share above which a file counts as similar, in percent.
    pub threshold_pct: String,
    pub packages: Vec<ComparisonRow>,
    pub files: Vec<ComparedFile>,
    /// Files found beyond those listed.
    pub more_files: usize,
}

/// One original package in the comparison.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ComparisonRow {
    pub package: String,
    pub sha256: String,
    pub files: u64,
    pub identical: u64,
    pub similar: u64,
    pub missing: u64,
    pub added: u64,
}

/// One original file found in what was served.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ComparedFile {
    pub original: String,
    pub original_sha256: String,
    pub url: String,
    pub entry: String,
    pub served_sha256: String,
    /// The server that sent it (`ip:port`), as the report has it.
    #[serde(skip)]
    pub server: String,
    /// `identical`, or the share found in percent (`97.3%`).
    pub how: String,
    pub frames: String,
}

/// Files listed one by one in a letter; the rest are counted.
const MAX_COMPARED_FILES: usize = 20;

/// Why a file given as a match result cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum MatchResultError {
    #[error("{name} is not JSON: {source}")]
    NotJson {
        name: String,
        source: serde_json::Error,
    },
    #[error("{name} is not a match result of `whohosts match`")]
    NotAMatchResult { name: String },
}

impl Comparison {
    /// The comparison as one provider's letter shows it: only the files sent by the
    /// servers of its rows (the package summary stays whole, as the match result has
    /// it).
    pub(crate) fn for_rows(&self, rows: &[EvidenceRow]) -> Comparison {
        let keys = RowKeys::of(rows);
        let ours = |server: &str| {
            server.parse::<std::net::SocketAddr>().is_ok_and(|a| {
                keys.addresses
                    .contains(&(a.ip().to_string().as_str(), a.port()))
            })
        };
        let mut c = self.clone();
        c.files.retain(|f| ours(&f.server));
        c
    }

    /// Reads a match result (`whohosts match`); `name` is how the letter names it.
    pub fn from_match_result(bytes: &[u8], name: &str) -> Result<Comparison, MatchResultError> {
        use serde_json::Value;
        let v: Value =
            serde_json::from_slice(bytes).map_err(|source| MatchResultError::NotJson {
                name: name.to_string(),
                source,
            })?;
        if v.get("format").and_then(Value::as_str) != Some(crate::matching::FORMAT) {
            return Err(MatchResultError::NotAMatchResult {
                name: name.to_string(),
            });
        }
        let s = |o: &Value, k: &str| o.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let n = |o: &Value, k: &str| o.get(k).and_then(Value::as_u64).unwrap_or(0);
        let empty = Vec::new();
        let packages = v
            .get("packages")
            .and_then(Value::as_array)
            .unwrap_or(&empty)
            .iter()
            .map(|p| ComparisonRow {
                package: s(p, "package"),
                sha256: s(p, "sha256"),
                files: n(p, "files"),
                identical: n(p, "identical"),
                similar: n(p, "similar"),
                missing: n(p, "missing"),
                added: n(p, "added"),
            })
            .collect();
        let matches = v.get("matches").and_then(Value::as_array).unwrap_or(&empty);
        let files = matches
            .iter()
            .take(MAX_COMPARED_FILES)
            .map(|m| {
                let o = &m["original"];
                let d = &m["object"];
                let share = m.get("share").and_then(Value::as_f64).unwrap_or(0.0);
                ComparedFile {
                    original: s(o, "path"),
                    original_sha256: s(o, "sha256"),
                    url: s(d, "url"),
                    entry: s(d, "entry"),
                    served_sha256: s(d, "sha256"),
                    server: s(d, "server"),
                    how: if s(m, "method") == "sha256" {
                        "identical".into()
                    } else {
                        format!("{:.1}%", share * 100.0)
                    },
                    frames: match (d.get("first_frame"), d.get("last_frame")) {
                        (Some(a), Some(b)) => format!("{a}-{b}"),
                        _ => String::new(),
                    },
                }
            })
            .collect();
        let threshold = v.get("threshold").and_then(Value::as_f64).unwrap_or(0.9);
        Ok(Comparison {
            file: name.to_string(),
            sha256: crate::hash::sha256_hex(bytes),
            threshold_pct: format!("{:.0}%", threshold * 100.0),
            packages,
            files,
            more_files: matches.len().saturating_sub(MAX_COMPARED_FILES),
        })
    }
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
    /// Plain text, ready to paste into a web form: no markup, no escapes.
    pub text: String,
    /// The per-provider evidence extract the letter attaches (JSON): only this
    /// provider's endpoints, names, requests and the capture hashes.
    pub extract: String,
    /// Required elements the letter lacks (then it is marked DRAFT).
    pub missing: Vec<Missing>,
    /// What the sender must know and check before sending, never sent: where the
    /// channel and entity came from, how the provider was attributed, data notes.
    pub sender_notes: Vec<String>,
    /// The locations the letter names (exact URLs, else `name:port`, else `ip:port`),
    /// for the web-form guide of the sender's sheet.
    pub locations: Vec<String>,
    /// The attachments' numbers and file names or descriptions.
    pub attachments: Vec<(String, String)>,
}

impl Letter {
    /// File name stem, built only from the directory's provider id and the frame.
    pub fn stem(&self) -> String {
        format!("{}.{}", self.provider, self.frame)
    }

    /// The file name of the evidence extract attached to the letter.
    pub fn extract_name(&self) -> String {
        format!("{}.evidence.json", self.stem())
    }

    /// The letter's files: Markdown, HTML, plain text and the evidence extract, each
    /// with its file name.
    pub fn files(&self) -> [(String, &str); 4] {
        let stem = self.stem();
        [
            (format!("{stem}.md"), self.markdown.as_str()),
            (format!("{stem}.html"), self.html.as_str()),
            (format!("{stem}.txt"), self.text.as_str()),
            (self.extract_name(), self.extract.as_str()),
        ]
    }

    /// The letter once its files are written: what the sender's sheet and the
    /// summary need, without the texts.
    pub fn without_texts(self) -> Letter {
        Letter {
            markdown: String::new(),
            html: String::new(),
            text: String::new(),
            extract: String::new(),
            ..self
        }
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

/// The file, next to the letters, that tells the sender what each letter rests on.
pub const SENDER_SHEET: &str = "SENDER-SHEET.md";

/// The sender's sheet: for each letter, what was chosen and from which source, and
/// what to check before sending. It is never sent; no letter holds these notes.
pub fn sender_sheet(drafts: &Drafts) -> String {
    let md = render::markdown;
    let mut out = String::from(
        "# Sender's sheet (not to be sent)\n\nFor each letter: where its addressee, channel and facts came from, and what to check before sending. Keep it with the case; never attach it to a letter.\n",
    );
    for l in &drafts.letters {
        out.push_str(&format!(
            "\n## {} ({} letter{})\n\n",
            md(&l.stem()),
            l.frame,
            if l.missing.is_empty() { "" } else { ", DRAFT" }
        ));
        out.push_str(&format!(
            "- Files: {stem}.md, {stem}.html, {stem}.txt (plain text for web forms), {} (the evidence extract it attaches)\n",
            md(&l.extract_name()),
            stem = md(&l.stem())
        ));
        for m in &l.missing {
            out.push_str(&format!("- Missing {}: {}\n", m.id, md(&m.why)));
        }
        for n in &l.sender_notes {
            out.push_str(&format!("- {}\n", md(n)));
        }
        if l.addressee.kind == "web_form" {
            out.push_str(&form_guide(l));
        }
    }
    if !drafts.skipped.is_empty() {
        out.push_str("\n## Endpoints no letter covers\n\n");
        for s in &drafts.skipped {
            out.push_str(&format!(
                "- {} ({}): {}\n",
                md(&s.service),
                md(&s.endpoint),
                md(&s.reason)
            ));
        }
    }
    out
}

/// Which part of a letter goes into which field of a web form. The fields are the
/// ones notice forms commonly have; the provider's own form, its field names and its
/// length limits are not confirmed here, so the guide says so.
fn form_guide(l: &Letter) -> String {
    let md = render::markdown;
    let cn = l.frame == Frame::Cn;
    let part = |zh: &'static str, en: &'static str| if cn { zh } else { en };
    let mut g = format!(
        "\n### Web form {}: what goes where\n\nPaste from {}.txt (plain text, no escapes). The form's field names and length limits are not confirmed here: open it, match the fields below to it, and keep a screenshot of the filled form and of the confirmation as receipts (`whohosts letter sent ... --receipt`).\n\n",
        md(l.addressee.target.as_deref().unwrap_or("(no address known)")),
        md(&l.stem())
    );
    let rows = [
        (
            "Complainant / rights holder, contact details",
            part("section 一、权利人 (name, identity document, address, telephone, email; the agent and authorisation)", "section Complaining party / Notifier"),
        ),
        ("Copyrighted work", part("section 二、作品", "section Copyrighted work / Why the content is illegal")),
        ("Infringing URL or location (one per line if the form allows)", ""),
        (
            "Description of the infringement",
            part("section 三 (each server's statement: what the capture shows)", "the server statements under What the capture shows"),
        ),
        ("Requested action", part("section 五、请求采取的措施", "section Requested action")),
        ("Statements (good faith, accuracy, perjury)", part("section 六、声明", "section Statements")),
        ("Signature, name, date", part("the signature lines at the end of section 六", "the signature lines")),
        ("Attachments / file upload", ""),
    ];
    for (field, from) in rows {
        g.push_str(&format!("- {field}: "));
        if field.starts_with("Infringing URL") {
            g.push_str(
                &l.locations
                    .iter()
                    .map(|x| md(x))
                    .collect::<Vec<_>>()
                    .join("; "),
            );
        } else if field.starts_with("Attachments") {
            g.push_str(
                &l.attachments
                    .iter()
                    .map(|(n, d)| format!("{n} {}", md(d)))
                    .collect::<Vec<_>>()
                    .join("; "),
            );
        } else {
            g.push_str(from);
        }
        g.push('\n');
    }
    g
}

/// One letter per provider hosting a service of the report.
pub fn draft(
    report: &Report,
    claimant: &Claimant,
    case: Option<&Case>,
    directory: &Directory,
    opts: &DraftOptions,
) -> Result<Drafts, LetterError> {
    draft_each(report, claimant, case, directory, opts, Ok)
}

/// [`draft`], handing each letter to `each` as soon as it is drafted; the drafts
/// keep what `each` gives back. A writer gives back the letter without its texts
/// ([`Letter::without_texts`]), so that the letters of a large report are not all
/// in memory at once.
pub fn draft_each<E: From<LetterError>>(
    report: &Report,
    claimant: &Claimant,
    case: Option<&Case>,
    directory: &Directory,
    opts: &DraftOptions,
    mut each: impl FnMut(Letter) -> Result<Letter, E>,
) -> Result<Drafts, E> {
    let env = render::Templates::load(opts.templates.as_deref())?;
    let mut out = Drafts {
        untargeted: report.targets.is_empty(),
        ..Drafts::default()
    };
    // provider id -> the endpoints and proxy targets it hosts.
    let mut by_provider: BTreeMap<String, Vec<Ref>> = BTreeMap::new();
    // Holders the directory does not list, known from an RDAP record with an abuse
    // contact: id -> (endpoints, record, contacts).
    let mut by_rdap: BTreeMap<String, RdapHolder> = BTreeMap::new();
    let mut file = |r: Ref,
                    label: &str,
                    endpoint: String,
                    entry: Option<&input::AddressAttribution>,
                    skipped: &mut Vec<Skipped>| {
        let provider_attr = entry.map(|a| &a.provider);
        let attributed = provider_attr.and_then(|p| p.id.clone());
        let listed = attributed
            .as_deref()
            .is_some_and(|id| directory.provider(id).is_some());
        if !listed {
            if let Some((id, holder)) = rdap_holder(entry) {
                if opts.providers.is_empty() || opts.providers.contains(&id) {
                    by_rdap.entry(id).or_insert(holder).refs.push(r);
                }
                return;
            }
        }
        match attributed {
            Some(id) if directory.provider(&id).is_some() => {
                if opts.providers.is_empty() || opts.providers.contains(&id) {
                    by_provider.entry(id).or_default().push(r);
                }
            }
            Some(id) => skipped.push(Skipped {
                service: label.to_string(),
                endpoint,
                reason: format!("provider {id:?} is not in the provider directory"),
            }),
            None => skipped.push(Skipped {
                service: label.to_string(),
                endpoint,
                reason: provider_attr
                    .and_then(|p| p.reason.clone())
                    .unwrap_or_else(|| "no provider attributed".into()),
            }),
        }
    };
    for (si, s) in report.services.iter().enumerate() {
        for (ei, e) in s.endpoints.iter().enumerate() {
            let endpoint = format!("{}:{}/{}", e.ip, e.port, e.transport);
            file(
                Ref::Endpoint(si, ei),
                &s.label,
                endpoint,
                s.attribution_entry(e),
                &mut out.skipped,
            );
        }
    }
    // The servers behind proxies: a notice goes to their provider as well, when a
    // proxy was asked for one and let the client through to it. A report focused on
    // targets (`analyze --target`) keeps those behind the proxies that carried its
    // services, and those a target address covers.
    let focus = (!report.targets.is_empty()).then(|| {
        let carriers: std::collections::HashSet<(&str, u16)> = report
            .services
            .iter()
            .flat_map(|s| s.endpoints.iter().map(|e| (e.ip.as_str(), e.port)))
            .collect();
        let nets: Vec<crate::model::IpPrefix> = report
            .targets
            .iter()
            .filter_map(|t| match t.parse() {
                Ok(crate::services::Target::Net(net)) => Some(net),
                _ => None,
            })
            .collect();
        (carriers, nets)
    });
    for (ti, t) in report.proxy_targets.iter().enumerate() {
        if let Some((carriers, nets)) = &focus {
            let carried = t
                .proxy
                .port
                .is_some_and(|p| carriers.contains(&(t.proxy.ip.as_str(), p)));
            let covered =
                t.ip.parse()
                    .is_ok_and(|ip| nets.iter().any(|n| n.contains(ip)));
            if !carried && !covered {
                continue;
            }
        }
        let endpoint = format!("{}/{}", socket_text(&t.ip, t.port), t.transport);
        let label = format!("server behind the proxy {}", peer_text(&t.proxy));
        if t.protocols.iter().all(|p| p.starts_with("proxy_v")) {
            out.skipped.push(Skipped {
                service: label,
                endpoint,
                reason: "named only by a PROXY protocol header, which a proxy sends to the server behind it: the capture shows that proxy's traffic, not a client's request".into(),
            });
            continue;
        }
        if t.granted == 0 {
            out.skipped.push(Skipped {
                service: label,
                endpoint,
                reason: format!(
                    "the proxy granted none of the {} request{} for it ({} refused, {} unanswered): nothing shows the client reached it",
                    t.requests,
                    if t.requests == 1 { "" } else { "s" },
                    t.refused,
                    t.requests.saturating_sub(t.refused)
                ),
            });
            continue;
        }
        let entry = t.attribution();
        file(
            Ref::Target(ti),
            &label,
            endpoint,
            entry.as_ref(),
            &mut out.skipped,
        );
    }
    // The records by server, found once for all the letters.
    let by = ByServer::of(report);
    for (id, holder) in by_rdap {
        let provider = Provider::unlisted(&id, &holder.name, &holder.jurisdiction, Vec::new());
        let mut o = opts.clone();
        o.addressee_for.insert(id.clone(), holder.addressee.clone());
        let letter = draft_one(
            &env,
            report,
            &by,
            claimant,
            case,
            directory,
            &provider,
            &holder.refs,
            &o,
        )?;
        out.letters.push(each(letter)?);
    }
    for (id, refs) in by_provider {
        let Some(provider) = directory.provider(&id) else {
            continue;
        };
        let letter = draft_one(
            &env, report, &by, claimant, case, directory, provider, &refs, opts,
        )?;
        out.letters.push(each(letter)?);
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn draft_one(
    env: &render::Templates,
    report: &Report,
    by: &ByServer,
    claimant: &Claimant,
    case: Option<&Case>,
    directory: &Directory,
    provider: &Provider,
    refs: &[Ref],
    opts: &DraftOptions,
) -> Result<Letter, LetterError> {
    let offset = claimant
        .timezone
        .as_ref()
        .map(|_| claimant.offset())
        .or(case.and_then(|c| c.offset))
        .unwrap_or(UtcOffset::UTC);
    let rows = evidence_rows(report, by, claimant, directory, provider, refs, offset);
    let placed = place(provider, &rows, opts);
    let frame = choose_frame(provider, &placed, claimant, opts)?;
    let mut ctx = build_context(
        report, claimant, case, directory, provider, frame, rows, placed, offset, opts,
    );
    let stem = format!("{}.{}", provider.id, frame);
    let extract = extract_json(by, &ctx, case);
    ctx.attachments.insert(
        0,
        Attachment {
            number: String::new(),
            label: "extract".into(),
            detail: format!("{stem}.evidence.json"),
            size: Some(extract.len() as u64),
            sha256: Some(crate::hash::sha256_hex(extract.as_bytes())),
            sm3: None,
        },
    );
    for (i, a) in ctx.attachments.iter_mut().enumerate() {
        a.number = format!("A-{}", i + 1);
    }
    let rendered = env.render_checked(frame, &mut ctx)?;
    Ok(Letter {
        provider: provider.id.clone(),
        frame,
        service_model: ctx.provider.service_model.clone(),
        measures: ctx.measures.clone(),
        addressee: ctx.addressee.clone(),
        markdown: rendered.markdown,
        html: rendered.html,
        text: rendered.text,
        extract,
        missing: rendered.missing,
        sender_notes: ctx.sender_notes.clone(),
        locations: ctx
            .rows
            .iter()
            .flat_map(|r| {
                if r.locations.is_empty() {
                    vec![format!("{}:{}/{}", r.ip, r.port, r.transport)]
                } else {
                    r.locations.clone()
                }
            })
            .collect(),
        attachments: ctx
            .attachments
            .iter()
            .map(|a| (a.number.clone(), a.detail.clone()))
            .collect(),
    })
}

/// An address holder the directory does not list, from the RDAP record of a block.
struct RdapHolder {
    name: String,
    jurisdiction: String,
    addressee: Addressee,
    refs: Vec<Ref>,
}

/// What a letter's row is drawn from: a service's endpoint (service and endpoint
/// index) or a server behind a proxy (index in `proxy_targets`).
#[derive(Clone, Copy, Debug)]
enum Ref {
    Endpoint(usize, usize),
    Target(usize),
}

/// `address:port`, an IPv6 address in brackets.
fn socket_text(ip: &str, port: u16) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// The Wireshark field of an address: `ip` or `ipv6`.
fn ip_field(ip: &str) -> &'static str {
    if ip.contains(':') {
        "ipv6"
    } else {
        "ip"
    }
}

fn peer_text(p: &input::Peer) -> String {
    match p.port {
        Some(port) => socket_text(&p.ip, port),
        None => p.ip.clone(),
    }
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

pub(crate) fn is_eu(code: &str) -> bool {
    code == "EU" || EU_MEMBERS.contains(&code)
}

/// Which entity of a provider a letter goes to, from the regions of its servers.
#[derive(Clone, Debug, Default)]
pub(crate) struct Placement {
    /// The entity the directory assigns to the servers' regions (`None`: no region
    /// known, or the provider's entities are not assigned by region).
    pub entity: Option<EntityRef>,
    /// Another entity of the provider to name as a copy recipient.
    pub copy: Option<EntityRef>,
    /// The region ids that decided it.
    pub regions: Vec<String>,
    /// Countries of all the servers' regions.
    pub countries: Vec<String>,
}

fn entity_ref(e: &crate::attribute::directory::Entity) -> EntityRef {
    EntityRef {
        name: e.name.clone(),
        country: e.country.clone(),
        address: e.address.clone(),
        role: e.role.clone(),
        confirmed: e.confirmed,
        source: e.source.clone(),
    }
}

/// The entity serving the regions of the letter's servers: the one naming the region
/// or its country, else the one marked `*`; the entity serving most servers wins.
fn place(provider: &Provider, rows: &[EvidenceRow], opts: &DraftOptions) -> Placement {
    let mut out = Placement::default();
    let mut votes: BTreeMap<usize, usize> = BTreeMap::new();
    for r in rows {
        let Some(id) = &r.region_id else { continue };
        let country = provider.region(id).map(|g| g.country.clone());
        if let Some(c) = &country {
            if !out.countries.contains(c) {
                out.countries.push(c.clone());
            }
        }
        let named = provider.entities.iter().position(|e| {
            e.regions
                .iter()
                .any(|x| x.eq_ignore_ascii_case(id) || country.as_deref().is_some_and(|c| x == c))
        });
        let any = provider
            .entities
            .iter()
            .position(|e| e.regions.iter().any(|x| x == "*"));
        if let Some(i) = named.or(any) {
            *votes.entry(i).or_default() += 1;
            if !out.regions.contains(id) {
                out.regions.push(id.clone());
            }
        }
    }
    if opts.addressee_for.contains_key(&provider.id) && votes.is_empty() {
        return out;
    }
    let best = votes
        .iter()
        .max_by_key(|(i, n)| (**n, std::cmp::Reverse(**i)))
        .map(|(i, _)| *i);
    if let Some(e) = best.and_then(|i| provider.entities.get(i)) {
        out.entity = Some(entity_ref(e));
        out.copy = provider
            .entities
            .iter()
            .find(|o| o.copy && o.name != e.name)
            .map(entity_ref);
    }
    out
}

/// The frame for a provider: an override for it, then `--frame`, then `--lang`, then
/// the jurisdiction of the entity the letter goes to (or the provider's), then the
/// claimant's preference.
pub(crate) fn choose_frame(
    provider: &Provider,
    placed: &Placement,
    claimant: &Claimant,
    opts: &DraftOptions,
) -> Result<Frame, LetterError> {
    if let Some(f) = opts.frame_for.get(&provider.id) {
        return Ok(*f);
    }
    if let Some(f) = opts.frame {
        return Ok(f);
    }
    let j = placed
        .entity
        .as_ref()
        .map_or(provider.jurisdiction.as_str(), |e| e.country.as_str());
    if let Some(lang) = opts
        .language
        .as_ref()
        .filter(|_| !bilingual(opts) && !bilingual_zh(opts))
    {
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

/// `--lang zh-CN+en`: frames by jurisdiction, and a Chinese letter to an entity
/// outside mainland China carries an English version after it.
fn bilingual(opts: &DraftOptions) -> bool {
    opts.language
        .as_deref()
        .is_some_and(|l| l.to_ascii_lowercase().replace('_', "-") == "zh-cn+en")
}

/// `--lang en+zh-CN`: frames by jurisdiction, and an English letter carries a Chinese
/// version after it (for the rights holder's records and Chinese-reading staff).
fn bilingual_zh(opts: &DraftOptions) -> bool {
    opts.language
        .as_deref()
        .is_some_and(|l| l.to_ascii_lowercase().replace('_', "-") == "en+zh-cn")
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

/// Whether a frame can govern a notice to a recipient in `country` for servers in
/// `regions` (countries): the recipient is in the frame's jurisdiction, or in a
/// country with no frame of its own here; the DSA also reaches a provider outside the
/// Union for a service offered in it (DSA Art. 2(1)), but never a mainland China
/// entity for servers outside the Union.
pub(crate) fn frame_fits(frame: Frame, country: &str, regions: &[String]) -> bool {
    let own_frame = country == "CN" || country == "US" || is_eu(country);
    match frame {
        Frame::Dsa => is_eu(country) || regions.iter().any(|c| is_eu(c)) || !own_frame,
        _ => jurisdiction_fits(frame, country) || (!own_frame && !country.is_empty()),
    }
}

/// How the channel a letter goes to was found (written into the letter's delivery
/// marker for `lint`).
fn channel_status(c: &NoticeChannel, frame: Frame) -> &'static str {
    let copyright = matches!(c.purpose, NoticePurpose::Copyright)
        || (frame == Frame::Dmca && c.purpose == NoticePurpose::DmcaAgent);
    if c.target.is_none() {
        "none"
    } else if same_frame(c.frame, frame) || (c.frame.is_none() && copyright) {
        "designated"
    } else {
        "closest"
    }
}

/// The directory's notice channel for a frame: of the addressed entity's country
/// first (when the entity follows the servers' region), then designated for the
/// frame, then for copyright (or the DMCA agent), then in the frame's jurisdiction and
/// language, then with a known target, then confirmed. Law-enforcement channels are
/// never used.
pub(crate) fn choose_channel<'a>(
    provider: &'a Provider,
    frame: Frame,
    country: Option<&str>,
) -> Option<&'a NoticeChannel> {
    provider
        .notices
        .iter()
        .filter(|c| c.purpose != NoticePurpose::LawEnforcement)
        .min_by_key(|c| {
            let copyright = matches!(c.purpose, NoticePurpose::Copyright)
                || (frame == Frame::Dmca && c.purpose == NoticePurpose::DmcaAgent);
            (
                country.is_some_and(|k| k != c.jurisdiction),
                !same_frame(c.frame, frame),
                !copyright,
                !jurisdiction_fits(frame, &c.jurisdiction),
                !c.language
                    .starts_with(frame.language().get(..2).unwrap_or("")),
                c.target.is_none(),
                !c.confirmed.is_confirmed(),
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

/// The entity for a frame when the servers' regions do not decide it: one in the
/// frame's jurisdiction, else one serving every region, else the first; never one
/// that serves only named regions the servers are not in.
fn choose_entity(provider: &Provider, frame: Frame) -> Option<EntityRef> {
    let general = |e: &&crate::attribute::directory::Entity| {
        e.regions.is_empty() || e.regions.iter().any(|r| r == "*")
    };
    let e = provider
        .entities
        .iter()
        .filter(general)
        .find(|e| jurisdiction_fits(frame, &e.country))
        .or_else(|| provider.entities.iter().find(general))
        .or_else(|| provider.entities.first())?;
    Some(entity_ref(e))
}

fn directory_addressee(
    provider: &Provider,
    frame: Frame,
    entity: Option<EntityRef>,
    by_region: bool,
) -> Addressee {
    let country = entity
        .as_ref()
        .filter(|_| by_region)
        .map(|e| e.country.clone());
    match choose_channel(provider, frame, country.as_deref()) {
        Some(c) => Addressee {
            source: AddresseeSource::Directory,
            kind: serde_plain(&c.kind),
            target: c.target.clone(),
            reason: c.reason.clone(),
            confirmed: c.confirmed,
            purpose: Some(serde_plain(&c.purpose)),
            frame_match: channel_status(c, frame) == "designated",
            jurisdiction: Some(c.jurisdiction.clone()),
            provenance: c.source.clone(),
            entity,
        },
        None => Addressee {
            source: AddresseeSource::Directory,
            kind: "email".into(),
            target: None,
            reason: Some("unknown: the provider directory lists no notice channel".into()),
            confirmed: Confirmed::Unconfirmed,
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
pub(crate) fn measures_for(service_model: &str) -> Vec<&'static str> {
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
        _ => vec!["remove_or_disable", "forward_to_customer", "preserve_logs"],
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

pub(crate) fn fmt_offset(o: UtcOffset) -> String {
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

/// A download the capture shows: a request and the response it got.
#[derive(Clone, Debug, Serialize)]
pub struct Download {
    /// The exact URL as requested (`http://host/path`).
    pub url: String,
    pub method: String,
    pub status: Option<u16>,
    /// `Content-Length` of the response, when it gave one.
    pub size: Option<u64>,
    pub content_type: Option<String>,
    /// Request and response frames.
    pub frames: String,
}

/// A name of the service and the frames that tied it to the address.
#[derive(Clone, Debug, Serialize)]
pub struct NameBinding {
    pub name: String,
    /// `dns` (a DNS answer or CNAME chain, from the resolver, not the server),
    /// `sni` (TLS over TCP), `quic_sni`, `host`, `certificate`.
    pub how: &'static str,
    pub frames: String,
}

/// What the capture shows for one server endpoint, and nothing more.
#[derive(Clone, Debug, Serialize)]
pub struct EvidenceRow {
    pub ip: String,
    pub port: u16,
    pub transport: String,
    pub hostnames: Vec<String>,
    pub names: Vec<NameBinding>,
    /// The exact URLs of downloads; else `name:port` for each name.
    pub locations: Vec<String>,
    pub region: Option<String>,
    pub region_id: Option<String>,
    pub first_seen: When,
    pub last_seen: When,
    /// The server's own frames: the first frame of each conversation with it and the
    /// frames of the requests and handshakes it took part in.
    pub frames: String,
    /// A Wireshark display filter showing exactly this endpoint's traffic.
    pub filter: String,
    pub bytes: u64,
    pub bytes_to_server: u64,
    pub bytes_to_client: u64,
    /// `download`, `http` (requests, nothing downloaded), `tls` (an encrypted session
    /// to a named service), `quic` (the same over QUIC), `proxied` (a server reached
    /// through a proxy) or `session` (a session whose protocol was not decoded).
    pub kind: &'static str,
    pub downloads: Vec<Download>,
    /// Names the client asked for in TLS ClientHellos to this endpoint, over TCP or
    /// in QUIC Initial packets.
    pub sni: Vec<String>,
    /// The service model for this endpoint and what showed it.
    pub model: String,
    pub model_basis: Option<String>,
    /// The letter calls what this endpoint served an infringing copy: content was
    /// downloaded and the claimant compared it with the original.
    pub claim: bool,
    /// The server was reached through a proxy (`kind` `proxied`): no packet of the
    /// capture went to it.
    pub via: Option<Via>,
}

/// The proxy a server behind it was asked of, and what it answered.
#[derive(Clone, Debug, Serialize)]
pub struct Via {
    /// `address:port`.
    pub proxy: String,
    /// `socks4`, `socks5`, `http_connect`, `http_forward`, joined with `, `.
    pub protocols: String,
    pub requests: u64,
    pub granted: u64,
    /// The frames of the requests to the proxy.
    pub frames: String,
    /// The client reached the server with datagrams through a SOCKS5 UDP relay
    /// (`proxy` is the relay), not through a connection.
    pub relay: bool,
    /// A relay that carried this server's datagrams carried other servers' too: what
    /// went through it is not this server's evidence.
    pub shared: bool,
    /// The proxy's address and port, and the client ends (by capture) of the
    /// connections it granted for the server: what went through them is the
    /// server's traffic.
    #[serde(skip)]
    end: (String, u16),
    #[serde(skip)]
    capture: u32,
    #[serde(skip)]
    clients: Vec<input::Peer>,
}

impl Via {
    /// Whether a record between the client and the proxy went through a connection
    /// granted for the server.
    fn carries(&self, s: &input::Seen) -> bool {
        s.capture == self.capture && self.clients.contains(&s.client)
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct CaptureEvidence {
    /// The file name, or the path inside the case.
    pub name: String,
    pub sha256: Option<String>,
    pub sm3: Option<String>,
    pub sm3_source: Option<String>,
    pub first_seen: When,
    pub last_seen: When,
}

#[derive(Clone, Debug, Serialize)]
pub struct Attachment {
    /// `A-1`, `A-2`, ...: one numbering for everything the letter attaches.
    pub number: String,
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
    /// `iaas`, `hosting`, `cdn`, `paas`, or `mixed` when the endpoints differ.
    pub service_model: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Notary {
    pub certificate: Option<String>,
    pub name: Option<String>,
    /// Both a notary and a certificate number are known: only then does a letter say
    /// the capture was made under notarial supervision.
    pub notarised: bool,
    pub case_id: Option<String>,
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
    /// Another entity of the provider, named as a copy recipient.
    pub copy: Option<EntityRef>,
    /// The regions that decided the entity (empty: not decided by region).
    pub placed_regions: Vec<String>,
    /// `designated`, `closest`, `none`, `rdap` or `user` (for `lint`).
    pub channel: &'static str,
    /// The recipient's country (entity, else channel), for `lint`'s frame check.
    pub recipient_country: String,
    /// Some server is in an EU region.
    pub eu_region: bool,
    pub measures: Vec<&'static str>,
    pub rows: Vec<EvidenceRow>,
    /// Some endpoint's content is claimed as an infringing copy.
    pub claims: bool,
    /// The comparison with the originals (`letter --matches`).
    pub comparison: Option<Comparison>,
    pub observed_from: When,
    pub observed_to: When,
    pub captures: Vec<CaptureEvidence>,
    pub notary: Notary,
    pub attachments: Vec<Attachment>,
    pub tool_version: &'static str,
    /// The missing elements when the letter is a draft.
    pub draft: Vec<Missing>,
    pub missing: minijinja::Value,
    /// An English version follows the Chinese text (`--lang zh-CN+en`).
    pub bilingual: bool,
    /// A Chinese version follows the English text (`--lang en+zh-CN`).
    pub bilingual_zh: bool,
    /// For the sender's sheet, never rendered into a letter.
    #[serde(skip)]
    pub sender_notes: Vec<String>,
}

/// At most this many frame numbers per row; the rest are counted.
const MAX_FRAMES_SHOWN: usize = 12;

fn frames_text(frames: &[FrameId], multi_capture: bool) -> String {
    let mut frames = frames.to_vec();
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
    let mut text = shown.join(", ");
    if frames.len() > MAX_FRAMES_SHOWN {
        text.push_str(&format!(" (+{})", frames.len() - MAX_FRAMES_SHOWN));
    }
    text
}

fn seen_frames(s: &input::Seen) -> Vec<FrameId> {
    std::iter::once(s.frame)
        .chain(s.frames.iter().copied())
        .map(|frame| FrameId {
            capture: s.capture,
            frame,
        })
        .collect()
}

/// The requests to an endpoint and the responses they got (paired in order on each
/// client connection, as HTTP/1.x answers them), from the HTTP records of its
/// server address and port ([`ByServer::http`]).
fn downloads(http: &[&input::HttpRecord], e: &input::Endpoint, names: &[String]) -> Vec<Download> {
    let mut out = Vec::new();
    let mine = |r: &&&input::HttpRecord| r.seen.transport == e.transport;
    // Responses by the client connection they answer.
    let mut responses: BTreeMap<(u32, String, Option<u16>), Vec<&input::HttpRecord>> =
        BTreeMap::new();
    for r in http.iter().filter(mine).filter(|r| r.kind == "response") {
        responses
            .entry((r.seen.capture, r.seen.client.ip.clone(), r.seen.client.port))
            .or_default()
            .push(r);
    }
    for q in http.iter().filter(mine).filter(|r| r.kind == "request") {
        let key = (q.seen.capture, q.seen.client.ip.clone(), q.seen.client.port);
        let answer = responses.get_mut(&key).and_then(|v| {
            let i = v
                .iter()
                .position(|a| (a.seen.capture, a.seen.frame) > (q.seen.capture, q.seen.frame))?;
            Some(v.remove(i))
        });
        let uri = q.uri.clone().unwrap_or_else(|| "/".into());
        let url = if uri.starts_with("http://") || uri.starts_with("https://") {
            uri
        } else {
            let host = q
                .host
                .clone()
                .or_else(|| names.first().cloned())
                .unwrap_or_else(|| {
                    if e.ip.contains(':') {
                        format!("[{}]", e.ip)
                    } else {
                        e.ip.clone()
                    }
                });
            let host = if e.port != 80 && !host.contains(':') {
                format!("{host}:{}", e.port)
            } else {
                host
            };
            format!("http://{host}{uri}")
        };
        let mut frames = seen_frames(&q.seen);
        if let Some(a) = answer {
            frames.extend(seen_frames(&a.seen));
        }
        out.push(Download {
            url,
            method: q.method.clone().unwrap_or_default(),
            status: answer.and_then(|a| a.status),
            size: answer.and_then(|a| a.content_length),
            content_type: answer.and_then(|a| a.content_type.clone()),
            frames: frames_text(&frames, false),
        });
    }
    out
}

/// A TCP connection with a proxy, or UDP datagrams with a relay: capture, transport,
/// client address and port, proxy address and port.
type Tunnel<'a> = (u32, &'a str, &'a str, u16, &'a str, u16);

/// The report's records and conversations by the server endpoint they concern, and
/// the frames of its DNS messages: found once for a letter, not once per row (a
/// report may hold hundreds of thousands of each).
struct ByServer<'a> {
    dns_frames: std::collections::HashSet<FrameId>,
    /// First frames of the conversations with the server (transport, address, port),
    /// in report order.
    conversations: HashMap<(&'a str, &'a str, u16), Vec<FrameId>>,
    http: HashMap<(&'a str, u16), Vec<&'a input::HttpRecord>>,
    tls: HashMap<(&'a str, u16), Vec<&'a input::TlsRecord>>,
    quic: HashMap<(&'a str, u16), Vec<&'a input::QuicRecord>>,
    /// The bytes each way (to the proxy, from it) of the TCP conversations with a
    /// proxy, and the UDP ones with a relay, that a proxy target names, by capture,
    /// transport, client end and proxy end.
    tunnels: HashMap<Tunnel<'a>, (u64, u64)>,
}

impl<'a> ByServer<'a> {
    fn of(report: &'a Report) -> Self {
        let mut conversations: HashMap<_, Vec<FrameId>> = HashMap::new();
        for c in &report.conversations {
            let first = FrameId {
                capture: c.capture,
                frame: c.first_frame,
            };
            let ends = [&c.a, &c.b];
            for (i, p) in ends.iter().enumerate() {
                let Some(port) = p.port else { continue };
                // A conversation of an endpoint with itself is listed once.
                if i == 1 && c.a.ip == c.b.ip && c.a.port == c.b.port {
                    continue;
                }
                conversations
                    .entry((c.transport.as_str(), p.ip.as_str(), port))
                    .or_default()
                    .push(first);
            }
        }
        let server = |p: &'a input::Peer| Some((p.ip.as_str(), p.port?));
        let mut http: HashMap<_, Vec<&input::HttpRecord>> = HashMap::new();
        for r in &report.http {
            if let Some(k) = server(&r.seen.server) {
                http.entry(k).or_default().push(r);
            }
        }
        let mut tls: HashMap<_, Vec<&input::TlsRecord>> = HashMap::new();
        for r in &report.tls {
            if let Some(k) = server(&r.seen.server) {
                tls.entry(k).or_default().push(r);
            }
        }
        let mut quic: HashMap<_, Vec<&input::QuicRecord>> = HashMap::new();
        for r in &report.quic {
            if let Some(k) = server(&r.seen.server) {
                quic.entry(k).or_default().push(r);
            }
        }
        let proxies: std::collections::HashSet<&input::Peer> =
            report.proxy_targets.iter().map(|t| &t.proxy).collect();
        let mut tunnels = HashMap::new();
        for c in report
            .conversations
            .iter()
            .filter(|c| matches!(c.transport.as_str(), "tcp" | "udp"))
        {
            let ends = [
                (&c.a, &c.b, c.bytes_a_to_b, c.bytes_b_to_a),
                (&c.b, &c.a, c.bytes_b_to_a, c.bytes_a_to_b),
            ];
            for (client, proxy, up, down) in ends {
                if let (Some(cp), Some(pp), true) =
                    (client.port, proxy.port, proxies.contains(proxy))
                {
                    tunnels.insert(
                        (
                            c.capture,
                            c.transport.as_str(),
                            client.ip.as_str(),
                            cp,
                            proxy.ip.as_str(),
                            pp,
                        ),
                        (up, down),
                    );
                }
            }
        }
        ByServer {
            dns_frames: report
                .dns
                .iter()
                .flat_map(|d| seen_frames(&d.seen))
                .collect(),
            conversations,
            http,
            tls,
            quic,
            tunnels,
        }
    }
}

/// The rows of a letter: what the capture shows for each endpoint of the provider.
fn evidence_rows(
    report: &Report,
    by: &ByServer,
    claimant: &Claimant,
    directory: &Directory,
    provider: &Provider,
    refs: &[Ref],
    offset: UtcOffset,
) -> Vec<EvidenceRow> {
    let multi = report.captures.len() > 1;
    let compared = claimant.works.iter().any(|w| w.comparison.is_some());
    let mut rows = Vec::new();
    for r in refs {
        let &Ref::Endpoint(si, ei) = r else {
            continue;
        };
        let (Some(s), Some(e)) = (
            report.services.get(si),
            report.services.get(si).and_then(|s| s.endpoints.get(ei)),
        ) else {
            continue;
        };
        let (provider_attr, region_attr) = s.attribution_of(e);
        let hostnames: Vec<String> = s.hostnames.iter().map(|h| h.name.clone()).collect();
        // A name's frames split into the resolver's (DNS messages) and the server's.
        let dns_frames = &by.dns_frames;
        let mut names = Vec::new();
        for h in &s.hostnames {
            let has = |x: &str| h.sources.iter().any(|s| s == x);
            let (dns, own): (Vec<FrameId>, Vec<FrameId>) =
                h.frames.iter().partition(|f| dns_frames.contains(f));
            let how = if has("http_host") {
                Some("host")
            } else if has("tls_sni") {
                Some("sni")
            } else if has("quic_sni") {
                Some("quic_sni")
            } else if has("certificate") {
                Some("certificate")
            } else {
                None
            };
            if let Some(how) = how.filter(|_| !own.is_empty()) {
                names.push(NameBinding {
                    name: h.name.clone(),
                    how,
                    frames: frames_text(&own, multi),
                });
            }
            if !dns.is_empty() || (how.is_none() && !h.frames.is_empty()) {
                names.push(NameBinding {
                    name: h.name.clone(),
                    how: "dns",
                    frames: frames_text(if dns.is_empty() { &h.frames } else { &dns }, multi),
                });
            }
        }
        // The server's own frames, never the resolver's.
        let server = (e.ip.as_str(), e.port);
        let mut frames: Vec<FrameId> = by
            .conversations
            .get(&(e.transport.as_str(), e.ip.as_str(), e.port))
            .cloned()
            .unwrap_or_default();
        // Records of this endpoint's transport only: a server's TCP and UDP ports of
        // the same number are two endpoints.
        let on_transport = |s: &input::Seen| s.transport == e.transport;
        let http: Vec<&input::HttpRecord> = by
            .http
            .get(&server)
            .into_iter()
            .flatten()
            .copied()
            .filter(|r| on_transport(&r.seen))
            .collect();
        for r in &http {
            frames.extend(seen_frames(&r.seen));
        }
        let mut sni: Vec<String> = Vec::new();
        let add_sni = |sni: &mut Vec<String>, name: &Option<String>| {
            if let Some(n) = name.as_ref().filter(|n| !sni.contains(n)) {
                sni.push(n.clone());
            }
        };
        for r in by.tls.get(&server).into_iter().flatten() {
            if on_transport(&r.seen) {
                frames.extend(seen_frames(&r.seen));
                add_sni(&mut sni, &r.sni);
            }
        }
        let tls_named = !sni.is_empty();
        for r in by.quic.get(&server).into_iter().flatten() {
            if on_transport(&r.seen) {
                frames.extend(seen_frames(&r.seen));
                add_sni(&mut sni, &r.sni);
            }
        }
        let downloads = downloads(&http, e, &hostnames);
        let downloaded = downloads
            .iter()
            .any(|d| d.status.is_some_and(|c| (200..300).contains(&c)));
        let kind = if downloaded {
            "download"
        } else if !downloads.is_empty() {
            "http"
        } else if tls_named {
            "tls"
        } else if !sni.is_empty() {
            "quic"
        } else {
            "session"
        };
        let locations = if !downloads.is_empty() {
            downloads.iter().map(|d| d.url.clone()).collect()
        } else if matches!(kind, "tls" | "quic") && e.port == 443 {
            // The site the client opened (its name in the TLS hello), not an object.
            sni.iter().map(|n| format!("https://{n}/")).collect()
        } else {
            hostnames
                .iter()
                .map(|h| format!("{h}:{}", e.port))
                .collect()
        };
        // The service model the evidence shows: a provider's name of a known shape
        // (an object-storage bucket), else the report's attribution, else the
        // provider's default.
        let by_name = s.hostnames.iter().find_map(|h| {
            let m = directory.match_hostname(&h.name)?;
            (m.provider == provider.id)
                .then_some(())
                .and(m.model)
                .map(|model| {
                    (
                        model.as_str().to_string(),
                        format!("{}: {}", h.name, m.what),
                    )
                })
        });
        let (model, model_basis) = match by_name {
            Some((m, why)) => (m, Some(why)),
            None => attributed_model(provider_attr, &e.ip, provider),
        };
        rows.push(EvidenceRow {
            ip: e.ip.clone(),
            port: e.port,
            transport: e.transport.clone(),
            hostnames,
            names,
            locations,
            region: region_attr.and_then(region_text),
            region_id: region_attr.and_then(|r| r.id.clone()),
            first_seen: when(e.first_seen.as_deref(), offset),
            last_seen: when(e.last_seen.as_deref(), offset),
            frames: frames_text(&frames, multi),
            filter: format!(
                "{}.addr == {} && {}.port == {}",
                ip_field(&e.ip),
                e.ip,
                e.transport,
                e.port
            ),
            bytes: e.bytes_to_server.saturating_add(e.bytes_to_client),
            bytes_to_server: e.bytes_to_server,
            bytes_to_client: e.bytes_to_client,
            kind,
            claim: kind == "download" && compared,
            downloads,
            sni,
            model,
            model_basis,
            via: None,
        });
    }
    for r in refs {
        if let Some(t) = match r {
            Ref::Target(ti) => report.proxy_targets.get(*ti),
            Ref::Endpoint(..) => None,
        } {
            rows.push(proxied_row(report, by, provider, t, compared, offset));
        }
    }
    // A server reached both directly and through a proxy has a row for each.
    let key = |r: &EvidenceRow| (r.ip.clone(), r.port, r.transport.clone(), r.via.is_some());
    rows.sort_by_key(key);
    rows.dedup_by(|a, b| key(a) == key(b));
    rows
}

/// A region as a letter names it: `id (city)`, or whichever is known.
fn region_text(r: &input::RegionAttribution) -> Option<String> {
    match (&r.id, &r.city) {
        (Some(id), Some(city)) => Some(format!("{id} ({city})")),
        (Some(id), None) => Some(id.clone()),
        (None, Some(city)) => Some(city.clone()),
        (None, None) => None,
    }
}

/// The service model of an address by its attribution (with the feed service that
/// decided it), else the provider's default.
fn attributed_model(
    attribution: Option<&input::ProviderAttribution>,
    ip: &str,
    provider: &Provider,
) -> (String, Option<String>) {
    match attribution.and_then(|p| p.service_model.clone()) {
        Some(m) if matches!(m.as_str(), "iaas" | "cdn" | "hosting" | "paas") => {
            let why = attribution
                .and_then(|p| p.service.clone())
                .map(|svc| format!("the provider's feed lists {ip} under service {svc}"));
            (m, why)
        }
        _ => (provider.service_model.as_str().to_string(), None),
    }
}

/// The HTTP messages of a proxy's connections that went to the server `ip`:`port`
/// behind it. HTTP/1.1 answers in order, so a connection's k-th response answers its
/// k-th request; a `CONNECT` (and its answer) opened a tunnel, and a forward request
/// (absolute-form) for another host went elsewhere. In frame order.
fn for_target<'a>(
    http: &[&'a input::HttpRecord],
    ip: &str,
    port: u16,
) -> Vec<&'a input::HttpRecord> {
    type Messages<'a> = (Vec<&'a input::HttpRecord>, Vec<&'a input::HttpRecord>);
    let mut by_connection: BTreeMap<(u32, &str, Option<u16>), Messages> = BTreeMap::new();
    for &r in http {
        let key = (
            r.seen.capture,
            r.seen.client.ip.as_str(),
            r.seen.client.port,
        );
        let (requests, responses) = by_connection.entry(key).or_default();
        if r.kind == "request" {
            requests.push(r);
        } else {
            responses.push(r);
        }
    }
    let target: Option<std::net::IpAddr> = ip.parse().ok();
    let goes_there = |q: &input::HttpRecord| {
        if q.method.as_deref() == Some("CONNECT") {
            return false;
        }
        let Some(rest) = q.uri.as_deref().and_then(|u| u.strip_prefix("http://")) else {
            // Origin-form: sent through the tunnel, to the server behind it.
            return true;
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let (host, p) = match authority.strip_prefix('[') {
            Some(v6) => match v6.split_once(']') {
                Some((h, tail)) => (h, tail.strip_prefix(':')),
                None => (v6, None),
            },
            None => match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            },
        };
        let p = p.map_or(Some(80), |p| p.parse::<u16>().ok());
        host.parse::<std::net::IpAddr>().ok() == target && p == Some(port)
    };
    let mut out = Vec::new();
    for (mut requests, mut responses) in by_connection.into_values() {
        requests.sort_by_key(|r| r.seen.frame);
        responses.sort_by_key(|r| r.seen.frame);
        for (k, q) in requests.iter().enumerate() {
            if goes_there(q) {
                out.push(*q);
                out.extend(responses.get(k).copied());
            }
        }
    }
    out.sort_by_key(|r| (r.seen.capture, r.seen.frame));
    out
}

/// The row of a server behind a proxy: the requests for it, and what went through
/// the proxy's granted connections for it (their HTTP requests and TLS hellos, from
/// the records between the client and the proxy).
fn proxied_row(
    report: &Report,
    by: &ByServer,
    provider: &Provider,
    t: &input::ProxyTarget,
    compared: bool,
    offset: UtcOffset,
) -> EvidenceRow {
    let multi = report.captures.len() > 1;
    let at = |frame| FrameId {
        capture: t.capture,
        frame,
    };
    // A target through a SOCKS5 UDP relay (`t.proxy` is then the relay): its
    // records are the datagrams that named it (the only UDP records a proxy
    // endpoint has, PROXY headers aside); the relay was granted.
    let relay = t.is_relay();
    let transport = t.transport.as_str();
    let on_proxy = |p: &input::ProxyRecord| {
        p.seen.capture == t.capture
            && p.seen.server == t.proxy
            && p.seen.transport == transport
            && !p.protocol.starts_with("proxy_v")
    };
    let mine = |p: &input::ProxyRecord| {
        p.target_address.as_deref() == Some(t.ip.as_str()) && p.target_port == t.port
    };
    // The connections the proxy granted for this target, and the relays that
    // carried its datagrams: their client ends.
    let granted: Vec<&input::ProxyRecord> = report
        .proxies
        .iter()
        .filter(|p| on_proxy(p) && mine(p) && (relay || p.granted == Some(true)))
        .collect();
    // A relay that carried datagrams for other servers too: what went through it
    // cannot be told apart by server, so none of it is this server's evidence.
    let carries_others = |g: &&&input::ProxyRecord| {
        relay
            && report
                .proxies
                .iter()
                .any(|p| on_proxy(p) && p.seen.client == g.seen.client && !mine(p))
    };
    let (shared, clients): (Vec<&input::ProxyRecord>, Vec<&input::ProxyRecord>) =
        granted.iter().partition(carries_others);
    let through = |s: &input::Seen| {
        s.capture == t.capture && clients.iter().any(|p| p.seen.client == s.client)
    };
    let proxy = (t.proxy.ip.as_str(), t.proxy.port.unwrap_or(0));
    let http: Vec<&input::HttpRecord> = by
        .http
        .get(&proxy)
        .into_iter()
        .flatten()
        .copied()
        .filter(|r| through(&r.seen))
        .collect();
    let http = for_target(&http, &t.ip, t.port);
    let mut frames: Vec<FrameId> = t.frames.iter().copied().map(at).collect();
    let request_frames = frames_text(&frames, multi);
    let mut sni = Vec::new();
    let mut names: Vec<NameBinding> = Vec::new();
    let handshakes = by
        .tls
        .get(&proxy)
        .into_iter()
        .flatten()
        .map(|r| (&r.seen, &r.sni, "sni"))
        .chain(
            by.quic
                .get(&proxy)
                .into_iter()
                .flatten()
                .map(|r| (&r.seen, &r.sni, "quic_sni")),
        );
    for (seen, name, how) in handshakes {
        if !through(seen) || seen.transport != transport {
            continue;
        }
        frames.extend(seen_frames(seen));
        if let Some(n) = name {
            if !sni.contains(n) {
                sni.push(n.clone());
                names.push(NameBinding {
                    name: n.clone(),
                    how,
                    frames: frames_text(&seen_frames(seen), multi),
                });
            }
        }
    }
    for r in &http {
        frames.extend(seen_frames(&r.seen));
        // A Host header names the server, without its port; an address names nothing.
        let host = r.host.as_deref().map(|h| match h.rsplit_once(':') {
            Some((name, port))
                if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) =>
            {
                name
            }
            _ => h,
        });
        let named = host.filter(|h| {
            h.trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .is_err()
                && !names.iter().any(|n| n.name == *h)
        });
        if let Some(h) = named {
            names.push(NameBinding {
                name: h.to_string(),
                how: "host",
                frames: frames_text(&seen_frames(&r.seen), multi),
            });
        }
    }
    let hostnames: Vec<String> = names.iter().map(|n| n.name.clone()).collect();
    let server = input::Endpoint {
        ip: t.ip.clone(),
        port: t.port,
        transport: transport.into(),
        ..input::Endpoint::default()
    };
    let downloads = downloads(&http, &server, &hostnames);
    let downloaded = downloads
        .iter()
        .any(|d| d.status.is_some_and(|c| (200..300).contains(&c)));
    let locations = if !downloads.is_empty() {
        downloads.iter().map(|d| d.url.clone()).collect()
    } else if !sni.is_empty() && t.port == 443 {
        sni.iter().map(|n| format!("https://{n}/")).collect()
    } else {
        vec![socket_text(&t.ip, t.port)]
    };
    // The traffic through the granted connections and relays, as the client sent
    // and got it (a shared relay's whole traffic: the letter says so).
    let (mut to_server, mut to_client) = (0u64, 0u64);
    let mut filters = Vec::new();
    for p in clients.iter().chain(&shared) {
        let c = &p.seen.client;
        let Some(port) = c.port else { continue };
        if let Some(&(up, down)) =
            by.tunnels
                .get(&(t.capture, transport, c.ip.as_str(), port, proxy.0, proxy.1))
        {
            to_server = to_server.saturating_add(up);
            to_client = to_client.saturating_add(down);
        }
        filters.push(format!(
            "({}.addr == {} && {transport}.port == {port} && {}.addr == {} && {transport}.port == {})",
            ip_field(&c.ip),
            c.ip,
            ip_field(proxy.0),
            proxy.0,
            proxy.1
        ));
    }
    let (model, model_basis) = attributed_model(t.provider.as_ref(), &t.ip, provider);
    let region_attr = t.region.as_ref();
    EvidenceRow {
        ip: t.ip.clone(),
        port: t.port,
        transport: transport.into(),
        hostnames,
        names,
        locations,
        region: region_attr.and_then(region_text),
        region_id: region_attr.and_then(|r| r.id.clone()),
        first_seen: when(Some(&t.first_seen), offset),
        last_seen: when(Some(&t.last_seen), offset),
        frames: frames_text(&frames, multi),
        filter: if filters.is_empty() {
            "none (no granted connection)".into()
        } else {
            filters.join(" || ")
        },
        bytes: to_server.saturating_add(to_client),
        bytes_to_server: to_server,
        bytes_to_client: to_client,
        kind: "proxied",
        claim: downloaded && compared,
        downloads,
        sni,
        model,
        model_basis,
        via: Some(Via {
            proxy: peer_text(&t.proxy),
            protocols: t.protocols.join(", "),
            requests: t.requests,
            granted: t.granted,
            frames: request_frames,
            relay,
            shared: !shared.is_empty(),
            end: (proxy.0.to_string(), proxy.1),
            capture: t.capture,
            clients: clients.iter().map(|p| p.seen.client.clone()).collect(),
        }),
    }
}

#[allow(clippy::too_many_arguments)]
fn build_context(
    report: &Report,
    claimant: &Claimant,
    case: Option<&Case>,
    directory: &Directory,
    provider: &Provider,
    frame: Frame,
    rows: Vec<EvidenceRow>,
    placed: Placement,
    offset: UtcOffset,
    opts: &DraftOptions,
) -> Context {
    let refs_notes = provider_notes(report, provider, &rows);
    let mut sender = Vec::new();
    let models: std::collections::BTreeSet<&str> = rows.iter().map(|r| r.model.as_str()).collect();
    let service_model = match models.len() {
        0 => provider.service_model.as_str().to_string(),
        1 => models
            .iter()
            .next()
            .map(|m| m.to_string())
            .unwrap_or_default(),
        _ => "mixed".to_string(),
    };
    let measures = if service_model == "mixed" {
        vec![
            "remove_or_disable",
            "forward_to_customer",
            "preserve_logs",
            "disclose_on_legal_process",
        ]
    } else {
        measures_for(&service_model)
    };
    for r in &rows {
        sender.push(format!(
            "Service model of {}:{}/{}: {} ({})",
            r.ip,
            r.port,
            r.transport,
            r.model,
            r.model_basis.clone().unwrap_or_else(|| format!(
                "the provider's default in the provider directory {}",
                directory.version()
            ))
        ));
    }

    // The addressee: a channel given for this provider, else the directory's; the
    // entity follows the servers' region when the directory assigns entities so.
    let by_region = placed.entity.is_some();
    let entity = placed
        .entity
        .clone()
        .or_else(|| choose_entity(provider, frame));
    let directory_target = choose_channel(
        provider,
        frame,
        entity
            .as_ref()
            .filter(|_| by_region)
            .map(|e| e.country.as_str()),
    )
    .and_then(|c| c.target.clone());
    let rdap = rdap_contact(report, &rows);
    let (addressee, channel) = match opts.addressee_for.get(&provider.id) {
        Some(a) => {
            let mut a = a.clone();
            if a.entity.is_none() && !provider.entities.is_empty() {
                a.entity = entity.clone();
            }
            let status = match a.source {
                AddresseeSource::Rdap => "rdap",
                AddresseeSource::User => "user",
                AddresseeSource::Directory => "designated",
            };
            (a, status)
        }
        // The directory knows no channel with a target; the RDAP record of the address
        // names an abuse contact (the directory's own advice for such providers): it
        // takes the channel's place, labelled as such.
        None if directory_target.is_none() && rdap.is_some() => {
            let mut a = match rdap {
                Some((c, r)) => Addressee::from_rdap_contact(c, r),
                None => Addressee::from_user(""),
            };
            a.entity = entity.clone();
            (a, "rdap")
        }
        None => {
            let a = directory_addressee(provider, frame, entity.clone(), by_region);
            let status = match choose_channel(
                provider,
                frame,
                entity
                    .as_ref()
                    .filter(|_| by_region)
                    .map(|e| e.country.as_str()),
            ) {
                Some(c) => channel_status(c, frame),
                None => "none",
            };
            (a, status)
        }
    };
    let recipient_country = addressee
        .entity
        .as_ref()
        .map(|e| e.country.clone())
        .or_else(|| addressee.jurisdiction.clone())
        .unwrap_or_else(|| provider.jurisdiction.clone());
    let eu_region = placed.countries.iter().any(|c| is_eu(c));
    let is_bilingual = bilingual(opts) && recipient_country != "CN";
    if let Some(e) = &addressee.entity {
        sender.push(match (by_region, placed.regions.is_empty()) {
            (true, false) => format!(
                "Addressed to {} ({}) because the servers are in region {}, which the provider directory {} assigns to this entity ({})",
                e.name,
                e.country,
                placed.regions.join(", "),
                directory.version(),
                e.role
            ),
            _ => format!(
                "Addressed to {} ({}): no server region decides the entity; chosen for the {} frame ({})",
                e.name, e.country, frame, e.role
            ),
        });
        sender.push(match (e.confirmed, &e.source) {
            (Confirmed::On(d), Some(src)) => {
                format!("Entity {}: confirmed {d} from {src}", e.name)
            }
            _ => format!(
                "Entity {}: unconfirmed: check its name and address before sending",
                e.name
            ),
        });
    }
    if let Some(c) = &placed.copy {
        sender.push(format!(
            "Copy to {} ({}), as the provider directory names it for letters to another entity of {}; {}",
            c.name,
            c.country,
            provider.id,
            match (c.confirmed, &c.source) {
                (Confirmed::On(d), Some(src)) => format!("confirmed {d} from {src}"),
                _ => "unconfirmed: check its name and address before sending".to_string(),
            }
        ));
    }
    sender.push(format!(
        "Channel: {} ({}); {}; {}",
        addressee
            .target
            .clone()
            .unwrap_or_else(|| format!("none ({})", addressee.reason.clone().unwrap_or_default())),
        addressee.kind,
        match channel {
            "designated" => "designated for this kind of notice".to_string(),
            "closest" => format!(
                "NOT designated for {} notices: the closest channel was taken; find the designated one before sending",
                frame
            ),
            "rdap" => "the abuse contact of the address's RDAP record".to_string(),
            "user" => "given on the command line".to_string(),
            _ => "no channel known: find the provider's notice channel before sending".to_string(),
        },
        match addressee.confirmed {
            Confirmed::On(d) => format!("confirmed {d} from {}", addressee.provenance),
            Confirmed::Unconfirmed => format!(
                "source: {}; unconfirmed: check before sending",
                addressee.provenance
            ),
        }
    ));
    let dsa_channel = frame == Frame::Dsa && channel == "designated";
    if !dsa_channel && !frame_fits(frame, &recipient_country, &placed.countries) {
        sender.push(format!(
            "The {} frame does not fit a recipient in {}: choose the recipient's frame (--frame) or another entity",
            frame, recipient_country
        ));
    }
    sender.extend(refs_notes);

    // Captures and their hashes, each named by its file name or its path in the case.
    let manifest = case.and_then(|c| c.manifest.as_ref());
    let captures = report
        .captures
        .iter()
        .map(|c| {
            let file = std::path::Path::new(&c.path)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            let in_case = manifest.and_then(|(_, m)| {
                m.files
                    .iter()
                    .find(|f| f.sha256.is_some() && f.sha256 == c.sha256)
            });
            let from_cli = opts.sm3.get(&c.path).or_else(|| opts.sm3.get(&file));
            let from_case = in_case.and_then(|f| {
                f.sm3.clone().map(|h| {
                    (
                        h,
                        format!(
                            "case manifest {}",
                            manifest.map(|(rel, _)| rel.as_str()).unwrap_or("")
                        ),
                    )
                })
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
            if let Some(src) = &sm3_source {
                sender.push(format!("SM3 of {file}: from the {src}"));
            }
            CaptureEvidence {
                name: in_case.map(|f| f.path.clone()).unwrap_or(file),
                sha256: c.sha256.clone(),
                sm3,
                sm3_source,
                first_seen: when(c.first_seen.as_deref(), offset),
                last_seen: when(c.last_seen.as_deref(), offset),
            }
        })
        .collect();
    let info = case.map(|c| &c.info);
    let certificate = opts
        .notary_certificate
        .clone()
        .or_else(|| info.and_then(|i| i.notary_certificate.clone()))
        .filter(|c| !c.trim().is_empty());
    let notary_name = opts
        .notary
        .clone()
        .or_else(|| info.and_then(|i| i.notary.clone()))
        .filter(|c| !c.trim().is_empty());
    let notary = Notary {
        notarised: certificate.is_some() && notary_name.is_some(),
        certificate,
        name: notary_name,
        case_id: info.and_then(|i| i.id.clone()),
    };
    if notary.certificate.is_some() && !notary.notarised {
        sender.push("A notarial certificate number is given but no notary: the letter does not say the capture was notarised (give --notary or a case naming the notary)".into());
    }

    // Attachments: only what is meant to be sent (the evidence extract is put first
    // by the caller): the claimant's documents and the case's `attachments/` files.
    // Never the full report, the case file or the environment records: the notice is
    // forwarded to the provider's customer.
    let mut attachments = Vec::new();
    let mut doc = |label: &str, v: &Option<String>| {
        if let Some(d) = v {
            attachments.push(Attachment {
                number: String::new(),
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
    if let Some(c) = case {
        for f in &c.attachments {
            attachments.push(Attachment {
                number: String::new(),
                label: "case_attachment".into(),
                detail: f.path.clone(),
                size: f.size,
                sha256: f.sha256.clone(),
                sm3: f.sm3.clone(),
            });
        }
    }

    let date = opts
        .date
        .map(|d| format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()));
    let mut first: Option<(OffsetDateTime, String)> = None;
    let mut last: Option<(OffsetDateTime, String)> = None;
    for r in refs_times(report, &rows) {
        if let Some(t) = parse_utc(&r) {
            if first.as_ref().is_none_or(|(f, _)| t < *f) {
                first = Some((t, r.clone()));
            }
            if last.as_ref().is_none_or(|(l, _)| t > *l) {
                last = Some((t, r));
            }
        }
    }
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
        },
        addressee,
        copy: placed.copy.clone(),
        placed_regions: placed.regions.clone(),
        channel,
        recipient_country,
        eu_region,
        measures,
        claims: rows.iter().any(|r| r.claim),
        comparison: opts.comparison.as_ref().map(|c| c.for_rows(&rows)),
        rows,
        observed_from: when(first.as_ref().map(|(_, t)| t.as_str()), offset),
        observed_to: when(last.as_ref().map(|(_, t)| t.as_str()), offset),
        captures,
        notary,
        attachments,
        tool_version: env!("CARGO_PKG_VERSION"),
        draft: Vec::new(),
        missing: minijinja::Value::from_safe_string(MISSING.to_string()),
        bilingual: is_bilingual,
        bilingual_zh: bilingual_zh(opts),
        sender_notes: sender,
    }
}

/// The letter's endpoints, to tell whether one of the report's is among them: a
/// report may list hundreds of thousands, a letter tens of thousands.
struct RowKeys<'a> {
    endpoints: std::collections::HashSet<(&'a str, u16, &'a str)>,
    addresses: std::collections::HashSet<(&'a str, u16)>,
    ips: std::collections::HashSet<&'a str>,
    /// The servers behind a proxy (address, port).
    proxied: std::collections::HashSet<(&'a str, u16)>,
}

impl<'a> RowKeys<'a> {
    fn of(rows: &'a [EvidenceRow]) -> Self {
        RowKeys {
            endpoints: rows
                .iter()
                .map(|r| (r.ip.as_str(), r.port, r.transport.as_str()))
                .collect(),
            addresses: rows.iter().map(|r| (r.ip.as_str(), r.port)).collect(),
            ips: rows.iter().map(|r| r.ip.as_str()).collect(),
            proxied: rows
                .iter()
                .filter(|r| r.via.is_some())
                .map(|r| (r.ip.as_str(), r.port))
                .collect(),
        }
    }

    /// Whether the endpoint is one of the letter's (address, port and transport).
    fn has(&self, e: &input::Endpoint) -> bool {
        self.endpoints
            .contains(&(e.ip.as_str(), e.port, e.transport.as_str()))
    }
}

/// The best RDAP abuse contact of the letter's endpoints, with its record.
fn rdap_contact<'a>(
    report: &'a Report,
    rows: &[EvidenceRow],
) -> Option<(&'a input::AbuseContact, &'a input::RdapRecord)> {
    let keys = RowKeys::of(rows);
    let endpoints = report
        .services
        .iter()
        .flat_map(|s| s.attribution.iter())
        .filter(|a| keys.ips.contains(a.ip.as_str()))
        .map(|a| (&a.rdap, &a.abuse_contacts));
    let targets = report
        .proxy_targets
        .iter()
        .filter(|t| keys.proxied.contains(&(t.ip.as_str(), t.port)))
        .map(|t| (&t.rdap, &t.abuse_contacts));
    endpoints
        .chain(targets)
        .filter_map(|(rdap, contacts)| {
            let r = rdap.as_ref()?;
            let c = contacts.iter().min_by_key(|c| c.rank)?;
            Some((c, r))
        })
        .min_by_key(|(c, _)| c.rank)
}

/// The first and last times of the letter's endpoints, as the report writes them.
fn refs_times(report: &Report, rows: &[EvidenceRow]) -> Vec<String> {
    let mut out = Vec::new();
    let keys = RowKeys::of(rows);
    for s in &report.services {
        for e in &s.endpoints {
            if keys.has(e) {
                out.extend(e.first_seen.clone());
                out.extend(e.last_seen.clone());
            }
        }
    }
    for t in &report.proxy_targets {
        if keys.proxied.contains(&(t.ip.as_str(), t.port)) {
            out.push(t.first_seen.clone());
            out.push(t.last_seen.clone());
        }
    }
    out
}

/// What the sender must weigh about the attribution of the letter's endpoints: how
/// each was attributed, data far from the capture's time, and an RDAP abuse contact
/// that is none of the directory's channels.
fn provider_notes(report: &Report, provider: &Provider, rows: &[EvidenceRow]) -> Vec<String> {
    let mut notes = std::collections::BTreeSet::new();
    let keys = RowKeys::of(rows);
    for s in &report.services {
        for e in &s.endpoints {
            if keys.has(e) {
                if let Some(entry) = s.attribution_entry(e) {
                    attribution_notes(&mut notes, provider, entry);
                }
            }
        }
    }
    for t in &report.proxy_targets {
        if keys.proxied.contains(&(t.ip.as_str(), t.port)) {
            if let Some(entry) = t.attribution() {
                attribution_notes(&mut notes, provider, &entry);
            }
        }
    }
    notes.into_iter().collect()
}

/// How one address of a letter was attributed, the notes on its data, and an RDAP
/// abuse contact that is none of the directory's channels.
fn attribution_notes(
    notes: &mut std::collections::BTreeSet<String>,
    provider: &Provider,
    entry: &input::AddressAttribution,
) {
    let ip = &entry.ip;
    let p = &entry.provider;
    let conf = p.confidence.as_deref().unwrap_or("unknown confidence");
    let src = p.source.as_ref().and_then(input::source_text);
    notes.insert(match (&p.evidence, src) {
        (Some(ev), _) => format!("Attribution: {ev} ({conf})"),
        (None, Some(src)) => format!("Attribution of {ip}: {src} ({conf})"),
        (None, None) => format!("Attribution of {ip}: ({conf})"),
    });
    for n in &entry.notes {
        notes.insert(format!("{ip}: {n}"));
    }
    if provider.notices.is_empty() && provider.asns.is_empty() {
        return;
    }
    let (Some(r), Some(best)) = (
        &entry.rdap,
        entry.abuse_contacts.iter().min_by_key(|c| c.rank),
    ) else {
        return;
    };
    let target = best.email.as_deref().or(best.url.as_deref()).unwrap_or("");
    let known = provider.notices.iter().any(|n| {
        n.target
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case(target))
    });
    if !target.is_empty() && !known {
        notes.insert(format!(
            "RDAP ({}{}) names {target} as the abuse contact of {ip}'s block, which is not among the provider directory's channels for {}: check which to use before sending",
            r.server,
            r.handle.as_deref().map(|h| format!(", {h}")).unwrap_or_default(),
            provider.id
        ));
    }
}

/// The per-provider evidence extract a letter attaches: this provider's endpoints
/// with their names, server frames, HTTP requests, TLS and QUIC names, and the capture
/// hashes; never the client's address, other providers' servers or the case's
/// environment records. Sorted keys (serde_json's map), so the same input gives the
/// same bytes.
fn extract_json(by: &ByServer, ctx: &Context, case: Option<&Case>) -> String {
    use serde_json::json;
    let endpoints: Vec<serde_json::Value> = ctx
        .rows
        .iter()
        .map(|r| {
            // Records name the conversation's server whichever side sent them; a
            // server behind a proxy has the records of the connections the proxy
            // granted for it.
            let server = match &r.via {
                Some(v) => (v.end.0.as_str(), v.end.1),
                None => (r.ip.as_str(), r.port),
            };
            let ours = |s: &input::Seen| {
                s.transport == r.transport && r.via.as_ref().is_none_or(|v| v.carries(s))
            };
            let http: Vec<serde_json::Value> = by
                .http
                .get(&server)
                .into_iter()
                .flatten()
                .filter(|h| ours(&h.seen))
                .map(|h| {
                    json!({
                        "capture": h.seen.capture, "frame": h.seen.frame, "frames": h.seen.frames,
                        "time_utc": h.seen.ts, "type": h.kind, "method": h.method, "uri": h.uri,
                        "host": h.host, "status": h.status, "content_type": h.content_type,
                        "content_length": h.content_length,
                    })
                })
                .collect();
            let tls: Vec<serde_json::Value> = by
                .tls
                .get(&server)
                .into_iter()
                .flatten()
                .filter(|t| ours(&t.seen))
                .map(|t| {
                    json!({
                        "capture": t.seen.capture, "frame": t.seen.frame, "frames": t.seen.frames,
                        "time_utc": t.seen.ts, "type": t.kind, "sni": t.sni,
                    })
                })
                .collect();
            let quic: Vec<serde_json::Value> = by
                .quic
                .get(&server)
                .into_iter()
                .flatten()
                .filter(|q| ours(&q.seen))
                .map(|q| {
                    json!({
                        "capture": q.seen.capture, "frame": q.seen.frame, "frames": q.seen.frames,
                        "time_utc": q.seen.ts, "sni": q.sni,
                    })
                })
                .collect();
            let mut e = json!({
                "ip": r.ip, "port": r.port, "transport": r.transport, "region": r.region_id,
                "first_seen_utc": r.first_seen.utc.to_string(), "last_seen_utc": r.last_seen.utc.to_string(),
                "bytes_to_server": r.bytes_to_server, "bytes_to_client": r.bytes_to_client,
                "server_frames": r.frames, "wireshark_filter": r.filter,
                "names": r.names, "downloads": r.downloads, "shows": r.kind,
                "service_model": r.model, "http": http, "tls": tls, "quic": quic,
            });
            if let (Some(via), Some(map)) = (&r.via, e.as_object_mut()) {
                map.insert("via".into(), json!(via));
            }
            e
        })
        .collect();
    let captures: Vec<serde_json::Value> = ctx
        .captures
        .iter()
        .map(|c| {
            json!({
                "name": c.name, "sha256": c.sha256, "sm3": c.sm3,
                "first_seen_utc": c.first_seen.utc.to_string(), "last_seen_utc": c.last_seen.utc.to_string(),
            })
        })
        .collect();
    let doc = json!({
        "schema": "whohosts.letter-extract/1",
        "provider": ctx.provider.id,
        "case": case.and_then(|c| c.info.id.clone()),
        "captures": captures,
        "endpoints": endpoints,
        "tool": format!("whohosts {}", env!("CARGO_PKG_VERSION")),
    });
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
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
    fn a_proxy_targets_messages_are_its_own_requests_and_their_answers_in_order() {
        let message = |client_port, frame, request: Option<(&str, &str)>| {
            let mut r = input::HttpRecord::default();
            r.seen.capture = 0;
            r.seen.frame = frame;
            r.seen.client = input::Peer {
                ip: "127.0.0.100".into(),
                port: Some(client_port),
            };
            match request {
                Some((method, uri)) => {
                    r.kind = "request".into();
                    r.method = Some(method.into());
                    r.uri = Some(uri.into());
                }
                None => r.kind = "response".into(),
            }
            r
        };
        let all = [
            // A tunnel: the CONNECT and its answer, then a request through it.
            message(1, 1, Some(("CONNECT", "52.28.131.173:80"))),
            message(1, 2, None),
            message(1, 3, Some(("GET", "/game.pak"))),
            message(1, 4, None),
            // A kept-alive forward connection, pipelined: another host, then ours.
            message(2, 5, Some(("GET", "http://www.example/"))),
            message(2, 6, Some(("GET", "http://52.28.131.173/x"))),
            message(2, 7, None),
            message(2, 8, None),
            message(2, 9, Some(("GET", "http://52.28.131.173:8080/y"))),
            message(2, 10, Some(("GET", "http://[2a05:d014::10]/z"))),
        ];
        let refs: Vec<&input::HttpRecord> = all.iter().collect();
        let frames = |ip, port| -> Vec<u64> {
            for_target(&refs, ip, port)
                .iter()
                .map(|r| r.seen.frame)
                .collect()
        };
        assert_eq!(frames("52.28.131.173", 80), [3, 4, 6, 8]);
        assert_eq!(frames("52.28.131.173", 8080), [3, 4, 9]);
        assert_eq!(frames("2a05:d014::10", 80), [3, 4, 10]);
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
