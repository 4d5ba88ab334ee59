//! The catalogue of notice elements, one per legal requirement, with the IDs of
//! `LEGAL.md` (CN-1..CN-11, US-1..US-7, EU-1..EU-4), and EU-5 (the DSA's notice and
//! action mechanism, Art. 16(1)) for the addressee of a DSA notice.
//!
//! Every template marks the section that fulfils an element with an HTML comment
//! `<!-- whohosts:element ID -->` (the same in Markdown and HTML); [`super::lint()`] finds
//! the marker and then checks the section's substance with the element's own check.

use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// The legal frame a letter is written under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Frame {
    /// 民法典 Art. 1195 and 信息网络传播权保护条例 Art. 14, in Chinese (zh-CN).
    Cn,
    /// 17 U.S.C. 512(c)(3)(A), in English.
    Dmca,
    /// Digital Services Act (Regulation (EU) 2022/2065) Art. 16(2), in English.
    Dsa,
}

impl Frame {
    pub const ALL: [Frame; 3] = [Frame::Cn, Frame::Dmca, Frame::Dsa];

    pub fn as_str(self) -> &'static str {
        match self {
            Frame::Cn => "cn",
            Frame::Dmca => "dmca",
            Frame::Dsa => "dsa",
        }
    }

    /// BCP 47 tag of the letter's language.
    pub fn language(self) -> &'static str {
        match self {
            Frame::Cn => "zh-CN",
            Frame::Dmca | Frame::Dsa => "en",
        }
    }

    /// The prefix of this frame's element IDs.
    pub fn prefix(self) -> &'static str {
        match self {
            Frame::Cn => "CN-",
            Frame::Dmca => "US-",
            Frame::Dsa => "EU-",
        }
    }

    /// The elements of this frame, in catalogue order.
    pub fn elements(self) -> impl Iterator<Item = &'static Element> {
        CATALOGUE.iter().filter(move |e| e.frame == self)
    }
}

impl fmt::Display for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Frame {
    type Err = String;
    fn from_str(s: &str) -> Result<Frame, String> {
        match s.to_ascii_lowercase().as_str() {
            "cn" => Ok(Frame::Cn),
            "dmca" | "us" => Ok(Frame::Dmca),
            "dsa" | "eu" => Ok(Frame::Dsa),
            _ => Err(format!("unknown frame {s:?}, expected cn, dmca or dsa")),
        }
    }
}

/// One element a notice must (or may) carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Element {
    pub id: &'static str,
    pub frame: Frame,
    /// What the element is, in a few words.
    pub name: &'static str,
    /// The same in Chinese, for letters in zh-CN.
    pub name_zh: &'static str,
    pub required: bool,
    /// Where the requirement comes from.
    pub basis: &'static str,
}

const fn el(
    id: &'static str,
    frame: Frame,
    name: &'static str,
    required: bool,
    basis: &'static str,
) -> Element {
    Element {
        id,
        frame,
        name,
        name_zh: name_zh(id),
        required,
        basis,
    }
}

const fn name_zh(id: &str) -> &'static str {
    match id.as_bytes() {
        b"CN-1" => "权利人的真实身份（名称及身份证明）",
        b"CN-2" => "权利人的地址、电话和电子邮件",
        b"CN-3" => "代理人发出时，覆盖本通知的授权委托",
        b"CN-4" => "作品（名称及登记号）",
        b"CN-5" => "权属证明",
        b"CN-6" => "侵权内容位置：域名、服务器 IP 与端口、协议、带时区的时间",
        b"CN-7" => "初步证据：抓包文件的 SHA-256 与 SM3、公证书编号",
        b"CN-8" => "与服务类型相适应的措施请求",
        b"CN-9" => "权利人对通知真实性负责的签名声明",
        b"CN-10" => "经提供商指定渠道递送",
        b"CN-11" => "经法院调取客户身份的请求",
        b"US-1" => "签名",
        b"US-2" => "受版权保护的作品",
        b"US-3" => "侵权材料及其位置",
        b"US-4" => "投诉人的地址、电话和电子邮件",
        b"US-5" => "善意声明",
        b"US-6" => "准确性及授权声明（伪证罪处罚）",
        b"US-7" => "发往指定代理人",
        b"EU-1" => "内容违法理由的说明",
        b"EU-2" => "确切的电子位置",
        b"EU-3" => "通知人姓名及电子邮件",
        b"EU-4" => "真诚相信通知准确完整的声明",
        b"EU-5" => "经提供商的通知与处理机制递送",
        _ => "",
    }
}

const CN_BASIS: &str = "民法典 Art. 1195; 信息网络传播权保护条例 Art. 14";
const US_BASIS: &str = "17 U.S.C. 512(c)(3)(A)";
const EU_BASIS: &str = "Regulation (EU) 2022/2065 (DSA) Art. 16(2)";

/// All elements of all frames (LEGAL.md, "Notice elements").
pub(crate) const CATALOGUE: &[Element] = &[
    el(
        "CN-1",
        Frame::Cn,
        "rights holder's real identity: name and identity document",
        true,
        CN_BASIS,
    ),
    el(
        "CN-2",
        Frame::Cn,
        "rights holder's address, telephone and email",
        true,
        CN_BASIS,
    ),
    el(
        "CN-3",
        Frame::Cn,
        "agent's authorisation covering this notice, when sent by an agent",
        true,
        CN_BASIS,
    ),
    el(
        "CN-4",
        Frame::Cn,
        "the work: title (and registration number if any)",
        true,
        CN_BASIS,
    ),
    el(
        "CN-5",
        Frame::Cn,
        "proof of ownership or licence",
        true,
        CN_BASIS,
    ),
    el(
        "CN-6",
        Frame::Cn,
        "where the infringement is: domain, server IP and port, protocol, time with time zone",
        true,
        CN_BASIS,
    ),
    el(
        "CN-7",
        Frame::Cn,
        "preliminary evidence: capture SHA-256 and SM3, notarial certificate number",
        true,
        CN_BASIS,
    ),
    el(
        "CN-8",
        Frame::Cn,
        "measures requested, fitting the provider's service model",
        true,
        "民法典 Art. 1195; (2019)京73民终1194号",
    ),
    el(
        "CN-9",
        Frame::Cn,
        "signed statement that the sender answers for the truth of the notice",
        true,
        CN_BASIS,
    ),
    el(
        "CN-10",
        Frame::Cn,
        "sent through the provider's designated channel",
        true,
        "民法典 Art. 1195; (2019)京73民终1194号",
    ),
    el(
        "CN-11",
        Frame::Cn,
        "request for the customer's identity, through a court",
        false,
        "民法典 Art. 1195",
    ),
    el(
        "US-1",
        Frame::Dmca,
        "physical or electronic signature",
        true,
        US_BASIS,
    ),
    el("US-2", Frame::Dmca, "the copyrighted work", true, US_BASIS),
    el(
        "US-3",
        Frame::Dmca,
        "the infringing material and where to find it",
        true,
        US_BASIS,
    ),
    el(
        "US-4",
        Frame::Dmca,
        "complainant's address, telephone and email",
        true,
        US_BASIS,
    ),
    el(
        "US-5",
        Frame::Dmca,
        "good-faith statement that the use is not authorised",
        true,
        US_BASIS,
    ),
    el(
        "US-6",
        Frame::Dmca,
        "accuracy statement and authority under penalty of perjury",
        true,
        US_BASIS,
    ),
    el(
        "US-7",
        Frame::Dmca,
        "addressed to the provider's designated agent",
        true,
        "17 U.S.C. 512(c)(2)",
    ),
    el(
        "EU-1",
        Frame::Dsa,
        "substantiated explanation of why the content is illegal",
        true,
        EU_BASIS,
    ),
    el(
        "EU-2",
        Frame::Dsa,
        "exact electronic location and information fitting the service",
        true,
        EU_BASIS,
    ),
    el(
        "EU-3",
        Frame::Dsa,
        "name and email of the notifier",
        true,
        EU_BASIS,
    ),
    el(
        "EU-4",
        Frame::Dsa,
        "bona fide statement that the notice is accurate and complete",
        true,
        EU_BASIS,
    ),
    // Not in LEGAL.md's list: Art. 16(1) obliges hosting providers to offer a notice
    // and action mechanism, and a notice counts as received through it; the letter's
    // addressee, like CN-10 and US-7, is checked here.
    el(
        "EU-5",
        Frame::Dsa,
        "sent through the provider's notice and action mechanism",
        true,
        "Regulation (EU) 2022/2065 (DSA) Art. 16(1)",
    ),
];

/// An element by its ID.
pub(crate) fn element(id: &str) -> Option<&'static Element> {
    CATALOGUE.iter().find(|e| e.id == id)
}

/// The marker a template writes at the start of the section fulfilling `id`.
pub(crate) fn marker(id: &str) -> String {
    format!("<!-- whohosts:element {id} -->")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_has_every_legal_md_id_once() {
        let ids: Vec<_> = CATALOGUE.iter().map(|e| e.id).collect();
        let mut want: Vec<String> = (1..=11).map(|n| format!("CN-{n}")).collect();
        want.extend((1..=7).map(|n| format!("US-{n}")));
        want.extend((1..=5).map(|n| format!("EU-{n}")));
        assert_eq!(ids, want);
        for e in CATALOGUE {
            assert!(e.id.starts_with(e.frame.prefix()), "{}", e.id);
            assert!(!e.name_zh.is_empty(), "{}", e.id);
        }
    }
}
