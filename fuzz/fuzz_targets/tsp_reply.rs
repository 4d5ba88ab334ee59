//! An RFC 3161 time-stamp reply (BER/DER), as `evidence::tsp::inspect` reads it and as
//! `verify_stamped` checks it (signature, signing certificate, chain search), and a
//! certificate bundle as `load_certificates` reads `trusted-tsa.pem`.
#![no_main]
use libfuzzer_sys::fuzz_target;
use whohosts::evidence::tsp;

fuzz_target!(|data: &[u8]| {
    let _ = tsp::inspect(data, "00");
    let anchors = tsp::bundled_anchors();
    let _ = tsp::verify_stamped(data, tsp::Stamped::Data(b"x"), None, &anchors);
    let _ = tsp::load_certificates(data);
});
