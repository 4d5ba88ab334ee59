//! The project's own input files: provider feeds, provider directory, claimant
//! profiles, case files (custody log, manifest, `case.json`), time-stamp requests and
//! replies, and the analysis report a letter is drafted from. The first byte picks the
//! parser.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 8 {
        0 => {
            let _ = whohosts::attribute::feeds::parse_feed(rest);
        }
        1 => {
            if let Ok(text) = std::str::from_utf8(rest) {
                let _ = whohosts::attribute::directory::Directory::from_toml(text, "fuzz");
            }
        }
        2 => {
            if let Ok(text) = std::str::from_utf8(rest) {
                let _ = whohosts::letter::claimant::Claimant::from_toml(text, "fuzz");
            }
        }
        3 => {
            let _ = whohosts::evidence::custody::parse(rest);
        }
        4 => {
            let _ = whohosts::evidence::tsp::inspect(rest, "00");
        }
        5 => {
            let _ = whohosts::evidence::manifest::Manifest::parse("fuzz", rest);
        }
        6 => {
            let _ = whohosts::evidence::tsp::parse_request(rest);
            let _ = serde_json::from_slice::<whohosts::evidence::case::CaseInfo>(rest);
        }
        _ => {
            let _ = whohosts::letter::input::Report::from_json(rest, "fuzz");
        }
    }
});
