//! content::decode: undoing a body's Content-Encoding as its bytes pass (RFC 9110
//! §8.4): gzip (and x-gzip, several members), deflate (zlib as the RFC says, or raw
//! deflate as some servers send it, told apart by the first two bytes), br, zstd,
//! identity, and stacks of them (`gzip, br`: br is undone first).
//!
//! Both sides are hashed as they go: the wire bytes (after transfer framing) and the
//! decoded bytes, which may also be written out. The decoded size is capped: past the
//! cap decoding stops and the problem is recorded (a compression bomb cannot make us
//! write or hash without bound). A coding we do not know, or a stream that does not
//! decode, is recorded too; the wire hash always stands. Never panics.

use sha2::{Digest, Sha256};
use std::io::{self, Write};

/// Default cap on one object's decoded size.
pub const DEFAULT_MAX_DECODED: u64 = 1 << 30;

/// Where the decoded bytes go: a hash, a count, and optionally a file.
#[derive(Default)]
pub struct Output {
    hasher: Sha256,
    size: u64,
    cap: u64,
    capped: bool,
    file: Option<Box<dyn Write + Send>>,
    file_error: Option<String>,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output").field("size", &self.size).finish()
    }
}

const CAPPED: &str = "decoded size cap reached";

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = self.cap.saturating_sub(self.size);
        if room == 0 && !buf.is_empty() {
            self.capped = true;
            return Err(io::Error::other(CAPPED));
        }
        let n = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let part = &buf[..n];
        self.hasher.update(part);
        self.size += n as u64;
        if let Some(f) = &mut self.file {
            if let Err(e) = f.write_all(part) {
                self.file_error.get_or_insert_with(|| e.to_string());
                self.file = None;
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

type Br = brotli_decompressor::DecompressorWriter<Stage>;

/// One layer of the decoding chain; the innermost is the [`Output`].
enum Stage {
    Out(Output),
    Gzip(Box<flate2::write::MultiGzDecoder<Stage>>),
    Zlib(Box<flate2::write::ZlibDecoder<Stage>>),
    Raw(Box<flate2::write::DeflateDecoder<Stage>>),
    /// `deflate`, until its first two bytes say zlib or raw.
    Deflate(Vec<u8>, Box<Stage>),
    Br(Box<Br>),
    Zstd(Box<zstd::stream::write::Decoder<'static, Stage>>),
}

impl Stage {
    fn output(&mut self) -> &mut Output {
        match self {
            Stage::Out(o) => o,
            Stage::Gzip(d) => d.get_mut().output(),
            Stage::Zlib(d) => d.get_mut().output(),
            Stage::Raw(d) => d.get_mut().output(),
            Stage::Deflate(_, s) => s.output(),
            Stage::Br(d) => d.get_mut().output(),
            Stage::Zstd(d) => d.get_mut().output(),
        }
    }

    /// Ends every layer, outermost first; the first error is returned.
    fn finish(&mut self) -> Result<(), EndError> {
        let mut first: Result<(), EndError> = Ok(());
        let mut note = |r: Result<(), EndError>| {
            if first.is_ok() {
                first = r;
            }
        };
        match self {
            Stage::Out(_) => {}
            Stage::Gzip(d) => {
                note(d.try_finish().map_err(EndError::stream("gzip")));
                note(d.get_mut().finish());
            }
            Stage::Zlib(d) => {
                note(d.try_finish().map_err(EndError::stream("deflate (zlib)")));
                note(d.get_mut().finish());
            }
            Stage::Raw(d) => {
                note(d.try_finish().map_err(EndError::stream("deflate (raw)")));
                note(d.get_mut().finish());
            }
            Stage::Deflate(buf, _) => {
                if !buf.is_empty() {
                    note(Err(EndError::DeflateTooShort));
                }
            }
            Stage::Br(_) => {
                let Stage::Br(d) = std::mem::replace(self, Stage::Out(Output::default())) else {
                    return first;
                };
                let inner = match d.into_inner() {
                    Ok(w) => w,
                    Err(w) => {
                        note(Err(EndError::BrokenBrotli));
                        w
                    }
                };
                *self = inner;
                note(self.finish());
            }
            Stage::Zstd(d) => {
                note(d.flush().map_err(EndError::stream("zstd")));
                note(d.get_mut().finish());
            }
        }
        first
    }
}

/// Why a layer of the decoding chain did not end properly: the body is damaged or
/// cut short (recorded as a problem of the object, never fatal).
#[derive(Debug, thiserror::Error)]
enum EndError {
    #[error("{coding}: {source}")]
    Stream {
        coding: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("deflate: body too short")]
    DeflateTooShort,
    #[error("br: the stream ended early or is corrupt")]
    BrokenBrotli,
}

impl EndError {
    fn stream(coding: &'static str) -> impl FnOnce(io::Error) -> EndError {
        move |source| EndError::Stream { coding, source }
    }
}

impl Write for Stage {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stage::Out(o) => o.write(buf),
            Stage::Gzip(d) => d.write(buf),
            Stage::Zlib(d) => d.write(buf),
            Stage::Raw(d) => d.write(buf),
            Stage::Br(d) => d.write(buf),
            Stage::Zstd(d) => d.write(buf),
            Stage::Deflate(head, _) => {
                let take = buf.len().min(2 - head.len());
                head.extend_from_slice(&buf[..take]);
                if head.len() == 2 {
                    let Stage::Deflate(head, inner) =
                        std::mem::replace(self, Stage::Out(Output::default()))
                    else {
                        return Ok(take);
                    };
                    // RFC 1950 §2.2: CM 8, and the header a multiple of 31.
                    let zlib = head[0] & 0x0f == 8
                        && head[0] >> 4 <= 7
                        && (u16::from(head[0]) << 8 | u16::from(head[1])) % 31 == 0;
                    *self = if zlib {
                        Stage::Zlib(Box::new(flate2::write::ZlibDecoder::new(*inner)))
                    } else {
                        Stage::Raw(Box::new(flate2::write::DeflateDecoder::new(*inner)))
                    };
                    self.write_all(&head)?;
                }
                Ok(take)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stage::Out(o) => o.flush(),
            Stage::Gzip(d) => d.flush(),
            Stage::Zlib(d) => d.flush(),
            Stage::Raw(d) => d.flush(),
            Stage::Br(d) => d.flush(),
            Stage::Zstd(d) => d.flush(),
            Stage::Deflate(_, s) => s.flush(),
        }
    }
}

/// What one body came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    pub size: u64,
    pub sha256: String,
    pub wire_size: u64,
    pub wire_sha256: String,
    /// Why the decoded bytes are not all of what the sender meant (empty when none).
    pub problems: Vec<String>,
    /// The file (if any) could not be written.
    pub file_error: Option<String>,
}

/// A body being decoded, fed with its wire bytes in order.
pub struct BodyDecoder {
    chain: Stage,
    wire: Sha256,
    wire_size: u64,
    /// Decoding stopped (error or cap); the wire is still hashed.
    stopped: bool,
    problems: Vec<String>,
}

impl BodyDecoder {
    /// A decoder for the codings of a `Content-Encoding` value (`None` or empty for
    /// none), capping the decoded size at `max_decoded`, writing the decoded bytes to
    /// `file` if given.
    pub fn new(
        content_encoding: Option<&[u8]>,
        max_decoded: u64,
        file: Option<Box<dyn Write + Send>>,
    ) -> BodyDecoder {
        let mut chain = Stage::Out(Output {
            cap: max_decoded,
            file,
            ..Output::default()
        });
        let mut problems = Vec::new();
        let mut unknown = false;
        let codings = content_encoding.unwrap_or_default();
        for c in codings.split(|&b| b == b',') {
            let c = String::from_utf8_lossy(c).trim().to_ascii_lowercase();
            chain = match c.as_str() {
                "" | "identity" => chain,
                "gzip" | "x-gzip" => {
                    Stage::Gzip(Box::new(flate2::write::MultiGzDecoder::new(chain)))
                }
                "deflate" => Stage::Deflate(Vec::new(), Box::new(chain)),
                "br" => Stage::Br(Box::new(Br::new(chain, 32 * 1024))),
                "zstd" => match zstd::stream::write::Decoder::new(chain) {
                    Ok(d) => Stage::Zstd(Box::new(d)),
                    // Only on allocation failure; the body is then only hashed.
                    Err(e) => {
                        problems.push(format!("zstd decoder: {e}: the body was not decoded"));
                        unknown = true;
                        Stage::Out(Output {
                            cap: max_decoded,
                            ..Output::default()
                        })
                    }
                },
                other => {
                    let shown: String = other.chars().take(40).collect();
                    problems.push(format!(
                        "content coding {shown:?} is not known: the body was not decoded"
                    ));
                    unknown = true;
                    chain
                }
            };
            if unknown {
                break;
            }
        }
        if unknown {
            // Not decodable: the wire bytes are what is kept, as they came.
            let out = std::mem::take(chain.output());
            chain = Stage::Out(out);
        }
        BodyDecoder {
            chain,
            wire: Sha256::new(),
            wire_size: 0,
            stopped: false,
            problems,
        }
    }

    /// Wire bytes of the body, in order.
    pub fn push(&mut self, data: &[u8]) {
        self.wire.update(data);
        self.wire_size += data.len() as u64;
        if self.stopped || data.is_empty() {
            return;
        }
        if let Err(e) = self.chain.write_all(data) {
            self.stop(e);
        }
    }

    fn stop(&mut self, e: impl std::fmt::Display) {
        self.stopped = true;
        let out = self.chain.output();
        if out.capped {
            self.problems.push(format!(
                "the decoded body exceeds {} bytes (a compression bomb?): cut there",
                out.cap
            ));
        } else {
            self.problems.push(format!(
                "decoding stopped at wire byte {}: {e}",
                self.wire_size
            ));
        }
    }

    /// Ends the body: flushes the decoders, checks the streams ended properly.
    pub fn finish(mut self) -> Decoded {
        if !self.stopped {
            if let Err(e) = self.chain.finish() {
                self.stop(e);
            }
        }
        let out = self.chain.output();
        if let Some(f) = &mut out.file {
            if let Err(e) = f.flush() {
                out.file_error.get_or_insert_with(|| e.to_string());
            }
        }
        let out = std::mem::take(out);
        Decoded {
            size: out.size,
            sha256: crate::hash::hex(&out.hasher.finalize()),
            wire_size: self.wire_size,
            wire_sha256: crate::hash::hex(&self.wire.finalize()),
            problems: self.problems,
            file_error: out.file_error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(b: &[u8]) -> String {
        crate::hash::hex(&Sha256::digest(b))
    }

    fn decode(enc: Option<&str>, wire: &[u8], cap: u64) -> Decoded {
        let mut d = BodyDecoder::new(enc.map(str::as_bytes), cap, None);
        for part in wire.chunks(7) {
            d.push(part);
        }
        d.finish()
    }

    fn gzip(b: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn codings_and_stacks() {
        let body = b"hello hello hello hello, the body".repeat(50);
        let z = {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&body).unwrap();
            e.finish().unwrap()
        };
        let raw = {
            let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&body).unwrap();
            e.finish().unwrap()
        };
        let zs = zstd::encode_all(&body[..], 3).unwrap();
        let stacked = zstd::encode_all(&gzip(&body)[..], 1).unwrap();
        for (enc, wire) in [
            (Some("gzip"), gzip(&body)),
            (Some("deflate"), z),
            (Some("deflate"), raw),
            (Some("zstd"), zs),
            (Some("gzip, zstd"), stacked),
            (Some("identity"), body.clone()),
            (None, body.clone()),
        ] {
            let d = decode(enc, &wire, DEFAULT_MAX_DECODED);
            assert_eq!(d.sha256, sha(&body), "{enc:?}");
            assert_eq!(d.size, body.len() as u64);
            assert_eq!(d.wire_sha256, sha(&wire));
            assert!(d.problems.is_empty(), "{enc:?}: {:?}", d.problems);
        }
    }

    #[test]
    fn bombs_truncation_and_unknown_codings() {
        let zeros = vec![0u8; 4 << 20];
        let d = decode(Some("gzip"), &gzip(&zeros), 1 << 20);
        assert_eq!(d.size, 1 << 20);
        assert!(
            d.problems[0].contains("compression bomb"),
            "{:?}",
            d.problems
        );

        let g = gzip(b"some text that is cut");
        let d = decode(Some("gzip"), &g[..g.len() - 4], DEFAULT_MAX_DECODED);
        assert!(!d.problems.is_empty());

        let d = decode(Some("compress"), b"xyz", DEFAULT_MAX_DECODED);
        assert_eq!(d.wire_sha256, sha(b"xyz"));
        assert_eq!(d.sha256, sha(b"xyz"));
        assert!(d.problems[0].contains("not known"));

        let d = decode(Some("br"), b"\xff\xff\xff garbage", DEFAULT_MAX_DECODED);
        assert!(!d.problems.is_empty());
    }

    #[test]
    fn a_cut_body_ends_with_the_error_of_the_layer_that_was_cut() {
        let g = gzip(b"some text that is cut");
        let mut d = BodyDecoder::new(Some(b"gzip"), DEFAULT_MAX_DECODED, None);
        d.push(&g[..g.len() - 4]);
        let e = d.chain.finish().unwrap_err();
        assert!(matches!(e, EndError::Stream { coding: "gzip", .. }), "{e}");
        let mut d = BodyDecoder::new(Some(b"deflate"), DEFAULT_MAX_DECODED, None);
        d.push(b"x");
        assert!(matches!(d.chain.finish(), Err(EndError::DeflateTooShort)));
        let d = decode(Some("deflate"), b"x", DEFAULT_MAX_DECODED);
        assert_eq!(
            d.problems,
            ["decoding stopped at wire byte 1: deflate: body too short"]
        );
    }
}
