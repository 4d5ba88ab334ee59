//! Link and packet decoding: the first two bytes pick the link type.
#![no_main]
use libfuzzer_sys::fuzz_target;
use whohosts::capture::LinkType;

fuzz_target!(|data: &[u8]| {
    if let [a, b, rest @ ..] = data {
        let link = LinkType(u32::from(u16::from_le_bytes([*a, *b])) % 300);
        let _ = whohosts::decode::decode(link, rest);
    }
});
