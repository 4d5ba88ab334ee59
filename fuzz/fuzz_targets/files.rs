//! The project's own input files: provider feeds, provider directory, claimant
//! profiles, custody logs and time-stamp replies. The first byte picks the parser.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 5 {
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
        _ => {
            let _ = whohosts::evidence::tsp::inspect(rest, "00");
        }
    }
});
