//! A letter as `letter lint` reads it (drafted here or edited by hand, Markdown or HTML),
//! and the plain-text and HTML forms made from a text rendering.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = whohosts::letter::lint(text, None);
        let _ = whohosts::letter::render::to_html(text, whohosts::letter::Frame::Cn);
        let _ = whohosts::letter::render::to_plain(text);
    }
});
