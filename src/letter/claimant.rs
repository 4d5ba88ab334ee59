//! The claimant profile: who sends the notice, for which works, signed by whom.
//!
//! A TOML file written by the rights holder (`whohosts letter init` writes a commented
//! template, `data/claimant.example.toml`, whose values are empty and whose examples
//! are comments). Every field is optional at parse time: a missing field, an empty one
//! or one still equal to the template's example is not an error here but an element
//! the letter lacks, which the letter shows as `[MISSING]` and `lint` reports by
//! element ID; [`unfilled`] names such fields for `letter lint claimant.toml`. Only
//! malformed TOML, unknown keys (a misspelt key would silently drop a fact) and a
//! malformed time zone are refused, with the file and the reason.

use serde::{Deserialize, Serialize};
use time::UtcOffset;

/// The commented template `letter init` writes.
pub const TEMPLATE: &str = include_str!("../../data/claimant.example.toml");

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claimant {
    /// Fixed UTC offset for local times in the letter, e.g. `+08:00`.
    #[serde(default)]
    pub timezone: Option<String>,
    /// Preferred languages (BCP 47), first preferred; decides the frame for providers
    /// outside China, the US and the EU.
    #[serde(default)]
    pub languages: Vec<String>,
    /// Frame for providers outside China, the US and the EU (`cn`, `dmca`, `dsa`).
    #[serde(default)]
    pub frame: Option<String>,
    #[serde(default)]
    pub rights_holder: Party,
    /// Set when an agent (a law firm, an employee) sends the notice.
    #[serde(default)]
    pub agent: Option<Agent>,
    #[serde(default)]
    pub works: Vec<Work>,
    #[serde(default)]
    pub signature: Signature,
}

/// The rights holder.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Party {
    /// Legal name (company name as registered, or a person's full name).
    #[serde(default)]
    pub name: Option<String>,
    /// The name in another script, shown after the legal name.
    #[serde(default)]
    pub name_alt: Option<String>,
    /// Identity document: kind, number and where the copy is attached.
    #[serde(default)]
    pub id_document: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}

/// The agent sending the notice for the rights holder.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Agent {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    /// The authorisation document: what, dated, covering what, where attached.
    #[serde(default)]
    pub authorisation: Option<String>,
}

/// One work whose copyright is infringed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Work {
    #[serde(default)]
    pub title: Option<String>,
    /// The title in another language.
    #[serde(default)]
    pub title_alt: Option<String>,
    /// Copyright registration number, if registered.
    #[serde(default)]
    pub registration: Option<String>,
    /// Proof of ownership or licence: the document and where it is attached.
    #[serde(default)]
    pub proof_of_ownership: Option<String>,
    /// How the infringing copy compares with the original (and where the comparison is
    /// attached).
    #[serde(default)]
    pub comparison: Option<String>,
}

/// Who signs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    /// The signatory's name, as signed (`/s/ name` for an electronic signature).
    #[serde(default)]
    pub name: Option<String>,
    /// Position or capacity (e.g. legal representative, attorney).
    #[serde(default)]
    pub role: Option<String>,
    /// Place of signing.
    #[serde(default)]
    pub place: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClaimantError {
    #[error("{path}: cannot read the claimant profile: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a valid claimant profile: {message}")]
    Parse { path: String, message: String },
    #[error("{path}: `timezone`: expected a fixed UTC offset like +08:00, found {found:?}")]
    TimeZone { path: String, found: String },
    #[error("{path}: `frame`: {message}")]
    Frame { path: String, message: String },
}

impl Claimant {
    /// Parses a profile; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Claimant, ClaimantError> {
        let c: Claimant = toml::from_str(text).map_err(|e| ClaimantError::Parse {
            path: origin.to_string(),
            message: e.to_string(),
        })?;
        let mut c = c;
        if c.timezone.as_deref().is_some_and(|t| t.trim().is_empty()) {
            c.timezone = None;
        }
        if let Some(tz) = &c.timezone {
            parse_offset(tz).ok_or_else(|| ClaimantError::TimeZone {
                path: origin.to_string(),
                found: tz.clone(),
            })?;
        }
        if let Some(f) = &c.frame {
            f.parse::<super::Frame>()
                .map_err(|message| ClaimantError::Frame {
                    path: origin.to_string(),
                    message,
                })?;
        }
        Ok(c.trimmed())
    }

    pub fn load(path: &std::path::Path) -> Result<Claimant, ClaimantError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ClaimantError::Read {
            path: origin.clone(),
            source,
        })?;
        Claimant::from_toml(&text, &origin)
    }

    /// The profile's UTC offset; UTC when none is given.
    pub fn offset(&self) -> UtcOffset {
        self.timezone
            .as_deref()
            .and_then(parse_offset)
            .unwrap_or(UtcOffset::UTC)
    }

    /// Blank strings and the template's examples count as absent: a template field
    /// left empty, or still holding its example, is a missing fact.
    fn trimmed(mut self) -> Claimant {
        let examples = examples();
        let t = |v: &mut Option<String>| {
            if v.as_deref()
                .is_some_and(|s| s.trim().is_empty() || examples.iter().any(|e| e == s.trim()))
            {
                *v = None;
            }
        };
        let p = &mut self.rights_holder;
        for v in [
            &mut p.name,
            &mut p.name_alt,
            &mut p.id_document,
            &mut p.address,
            &mut p.phone,
            &mut p.email,
        ] {
            t(v);
        }
        if let Some(a) = &mut self.agent {
            for v in [
                &mut a.name,
                &mut a.address,
                &mut a.phone,
                &mut a.email,
                &mut a.authorisation,
            ] {
                t(v);
            }
        }
        // An agent table with nothing in it names no agent.
        if self.agent.as_ref().is_some_and(|a| a == &Agent::default()) {
            self.agent = None;
        }
        for w in &mut self.works {
            for v in [
                &mut w.title,
                &mut w.title_alt,
                &mut w.registration,
                &mut w.proof_of_ownership,
                &mut w.comparison,
            ] {
                t(v);
            }
        }
        self.works.retain(|w| w != &Work::default());
        for v in [
            &mut self.signature.name,
            &mut self.signature.role,
            &mut self.signature.place,
        ] {
            t(v);
        }
        self
    }
}

/// A fixed UTC offset, parsed as a case's time zone is (one parser for both).
pub use crate::times::parse_offset;

/// The example values of the template (`# example: ...` comment lines).
pub(crate) fn examples() -> Vec<String> {
    TEMPLATE
        .lines()
        .filter_map(|l| l.trim().strip_prefix("# example:"))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect()
}

/// The fields of a profile still to fill in: required fields absent, empty or equal
/// to the template's example, and optional ones still holding an example; each as
/// `table.key` with why. An agent table counts only when present.
pub fn unfilled(text: &str, origin: &str) -> Result<Vec<String>, ClaimantError> {
    let raw: toml::Value = toml::from_str(text).map_err(|e| ClaimantError::Parse {
        path: origin.to_string(),
        message: e.to_string(),
    })?;
    // Checked for the shape (unknown keys, time zone) as drafting would.
    Claimant::from_toml(text, origin)?;
    let examples = examples();
    let mut out = Vec::new();
    let mut look = |table: &str, v: Option<&toml::Value>, keys: &[(&str, bool)]| {
        for (key, required) in keys {
            let value = v.and_then(|t| t.get(key)).and_then(|x| x.as_str());
            let name = format!("{table}.{key}");
            match value.map(str::trim) {
                Some(s) if examples.iter().any(|e| e == s) => {
                    out.push(format!("{name}: still the template's example {s:?}"))
                }
                Some(s) if !s.is_empty() => {}
                _ if *required => out.push(format!("{name}: empty")),
                _ => {}
            }
        }
    };
    look(
        "rights_holder",
        raw.get("rights_holder"),
        &[
            ("name", true),
            ("name_alt", false),
            ("id_document", true),
            ("address", true),
            ("phone", true),
            ("email", true),
        ],
    );
    if let Some(agent) = raw.get("agent") {
        look(
            "agent",
            Some(agent),
            &[
                ("name", true),
                ("address", true),
                ("phone", true),
                ("email", true),
                ("authorisation", true),
            ],
        );
    }
    match raw.get("works").and_then(|w| w.as_array()) {
        Some(works) if !works.is_empty() => {
            for (i, w) in works.iter().enumerate() {
                look(
                    &format!("works[{i}]"),
                    Some(w),
                    &[
                        ("title", true),
                        ("title_alt", false),
                        ("registration", false),
                        ("proof_of_ownership", true),
                        ("comparison", false),
                    ],
                );
            }
        }
        _ => look(
            "works",
            None,
            &[("title", true), ("proof_of_ownership", true)],
        ),
    }
    look(
        "signature",
        raw.get("signature"),
        &[("name", true), ("role", false), ("place", false)],
    );
    let tz = raw.get("timezone").and_then(|x| x.as_str()).map(str::trim);
    if tz.is_none_or(str::is_empty) {
        out.push("timezone: empty (local times would be given in UTC only)".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_parses_and_holds_no_value_only_examples() {
        let c = Claimant::from_toml(TEMPLATE, "template").expect("template parses");
        assert_eq!(c.rights_holder, Party::default());
        assert_eq!(c.agent, None);
        assert!(c.works.is_empty());
        assert_eq!(c.offset(), UtcOffset::UTC);
        // Filled with its own examples, it is still empty.
        let filled = TEMPLATE
            .lines()
            .scan(None::<String>, |ex, l| {
                if let Some(v) = l.trim().strip_prefix("# example:") {
                    *ex = Some(v.trim().to_string());
                    return Some(l.to_string());
                }
                Some(match (ex.take(), l.split_once(" = \"\"")) {
                    (Some(v), Some((k, _))) => format!("{k} = {v:?}"),
                    _ => l.to_string(),
                })
            })
            .collect::<Vec<_>>()
            .join("\n");
        let c = Claimant::from_toml(&filled, "filled").expect("parses");
        assert_eq!(c.rights_holder, Party::default());
        assert!(c.works.is_empty());
        let why = unfilled(&filled, "filled").expect("parses");
        assert!(
            why.iter()
                .any(|w| w.starts_with("rights_holder.name: still the template's example")),
            "{why:?}"
        );
    }

    #[test]
    fn unfilled_names_every_required_field_of_the_template() {
        let why = unfilled(TEMPLATE, "claimant.toml").expect("parses");
        for f in [
            "rights_holder.name",
            "rights_holder.id_document",
            "rights_holder.address",
            "rights_holder.phone",
            "rights_holder.email",
            "agent.name",
            "agent.authorisation",
            "works[0].title",
            "works[0].proof_of_ownership",
            "signature.name",
            "timezone",
        ] {
            assert!(
                why.iter().any(|w| w.starts_with(&format!("{f}:"))),
                "{f}: {why:?}"
            );
        }
    }

    #[test]
    fn misspelt_key_is_refused() {
        let e = Claimant::from_toml("[rights_holder]\nadress = \"x\"\n", "p.toml");
        assert!(matches!(e, Err(ClaimantError::Parse { .. })));
    }

    #[test]
    fn offsets_parse_in_every_form_a_case_accepts() {
        assert_eq!(parse_offset("-05:30"), UtcOffset::from_hms(-5, -30, 0).ok());
        assert_eq!(parse_offset("+8"), UtcOffset::from_hms(8, 0, 0).ok());
        // Issue 30 item 3: `case new --tz +0800` was accepted, letters refused it.
        for good in ["+0800", "+08", "+08:00", "UTC+8", "UTC+08:00"] {
            assert_eq!(
                parse_offset(good),
                UtcOffset::from_hms(8, 0, 0).ok(),
                "{good}"
            );
        }
        for bad in [
            "",
            "+",
            "08:00",
            "+24:00",
            "+08:60",
            "+0a:00",
            "+080:00",
            "Asia/Shanghai",
        ] {
            assert_eq!(parse_offset(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn blank_fields_count_as_missing() {
        let c = Claimant::from_toml(
            "[rights_holder]\nname = \"  \"\n[agent]\nname = \"\"\n",
            "p",
        )
        .expect("parses");
        assert_eq!(c.rights_holder.name, None);
        assert_eq!(c.agent, None);
    }
}
