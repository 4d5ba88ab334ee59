//! decrypt: TLS decryption with logged secrets, sans-I/O.
//!
//! - [`keylog`]: NSS key log files (`--keylog FILE`) and the secrets of pcapng
//!   Decryption Secrets Blocks, keyed by client random.
//! - [`tls`]: one [`tls::TlsDecryptor`] per TCP connection, fed both directions'
//!   bytes in stream order with their frame numbers; out come plaintext application
//!   data records with the frames that carried them, the negotiated ALPN, or one
//!   reason why the connection could not be decrypted.
//!
//! The plaintext goes on to the HTTP/1.x reader of the `content` stage or, when ALPN
//! says `h2` (or the client preface is seen), to [`crate::dissect::h2`].
//!
//! The seam for the pipeline, per TCP connection whose first client bytes are a TLS
//! handshake record:
//!
//! ```
//! use whohosts::decrypt::{keylog::KeyLog, tls::TlsDecryptor, Side};
//!
//! let keys = KeyLog::new(); // filled from --keylog files and pcapng DSBs
//! let mut tls = TlsDecryptor::new();
//! tls.push(&keys, Side::Client, &[22, 3, 1, 0, 4, 1, 0, 0, 0], 4); // bytes, frame
//! tls.gap(Side::Server, 100); // the follower lost server bytes
//! for p in tls.take_output() {
//!     let _ = (p.side, p.data, p.frames); // to HTTP/1.x or HTTP/2
//! }
//! let _ = (tls.alpn(), tls.failure());
//! ```

pub mod keylog;
pub mod tls;

/// One side of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Side {
    Client,
    Server,
}
