//! The claimant profile: who sends the notice, for which works, signed by whom.
//!
//! A TOML file written by the rights holder (`whohosts letter init` writes a commented
//! template, `data/claimant.example.toml`). Every field is optional at parse time: a
//! missing field is not an error here but an element the letter lacks, which the
//! letter shows as `[MISSING]` and `lint` reports by element ID. Only malformed TOML,
//! unknown keys (a misspelt key would silently drop a fact) and a malformed time zone
//! are refused, with the file and the reason.

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

    /// Blank strings count as absent: a template field left empty is a missing fact.
    fn trimmed(mut self) -> Claimant {
        fn t(v: &mut Option<String>) {
            if v.as_deref().is_some_and(|s| s.trim().is_empty()) {
                *v = None;
            }
        }
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

/// A fixed UTC offset `+HH:MM` / `-HH:MM` (also `Z`, `UTC`, `+HH`).
pub fn parse_offset(text: &str) -> Option<UtcOffset> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("z") || t.eq_ignore_ascii_case("utc") {
        return Some(UtcOffset::UTC);
    }
    let (sign, rest) = match t.as_bytes().first()? {
        b'+' => (1i8, t.get(1..)?),
        b'-' => (-1i8, t.get(1..)?),
        _ => return None,
    };
    let (h, m) = match rest.split_once(':') {
        Some((h, m)) => (h, m),
        None => (rest, "0"),
    };
    if h.is_empty() || h.len() > 2 || m.is_empty() || m.len() > 2 {
        return None;
    }
    if !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let h: i8 = h.parse().ok()?;
    let m: i8 = m.parse().ok()?;
    if h > 14 || m > 59 {
        return None;
    }
    UtcOffset::from_hms(sign * h, sign * m, 0).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_parses_and_is_complete() {
        let c = Claimant::from_toml(TEMPLATE, "template").expect("template parses");
        assert!(c.rights_holder.name.is_some());
        assert_eq!(c.offset(), UtcOffset::from_hms(8, 0, 0).expect("offset"));
    }

    #[test]
    fn misspelt_key_is_refused() {
        let e = Claimant::from_toml("[rights_holder]\nadress = \"x\"\n", "p.toml");
        assert!(matches!(e, Err(ClaimantError::Parse { .. })));
    }

    #[test]
    fn offsets_parse_strictly() {
        assert_eq!(parse_offset("-05:30"), UtcOffset::from_hms(-5, -30, 0).ok());
        assert_eq!(parse_offset("+8"), UtcOffset::from_hms(8, 0, 0).ok());
        for bad in ["", "+", "08:00", "+24:00", "+08:60", "+0a:00", "+080:00"] {
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
