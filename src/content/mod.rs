//! content: the objects HTTP carried (bodies of responses, and of requests when
//! kept), out of the same streaming pass that identifies services.
//!
//! Bytes enter per connection and side, in order ([`follow`] turns TCP segments into
//! that; decrypted TLS plaintext enters at the same point), are framed into HTTP
//! messages ([`http1`]), their bodies decoded ([`decode`]) and hashed as they pass,
//! optionally written out ([`store`]); 206 parts of one resource are stitched after
//! the pass ([`ranges`]). Memory follows the connections open, not the bytes.
//!
//! [`HttpEvent`] is the seam between the protocol parsers (HTTP/1.x here, HTTP/2
//! elsewhere) and the object store: both produce the same events.

/// One side of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Side {
    Client,
    Server,
}

/// What an HTTP connection carried, in order, the same for HTTP/1.x and HTTP/2.
///
/// `stream` is the HTTP/2 stream id, or for HTTP/1.x the message's index on the
/// connection (0, 1, 2, ... in request order; a response pairs with the request of
/// the same index).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HttpEvent {
    Request {
        stream: u64,
        method: Vec<u8>,
        /// Path or absolute-form; `:path` for HTTP/2.
        target: Vec<u8>,
        authority: Option<Vec<u8>>,
        scheme: Option<Vec<u8>>,
        headers: Vec<(Vec<u8>, Vec<u8>)>,
        frame: u64,
    },
    Response {
        stream: u64,
        status: u16,
        headers: Vec<(Vec<u8>, Vec<u8>)>,
        frame: u64,
    },
    /// Message body bytes as they appear after transfer framing (chunked removed,
    /// HTTP/2 DATA padding removed) but before Content-Encoding is undone.
    Body {
        stream: u64,
        side: Side,
        data: Vec<u8>,
        frames: Vec<u64>,
    },
    /// The message on this side ended; `complete` false with a reason when cut short
    /// (connection closed early, gap in the stream, RST_STREAM, budget).
    End {
        stream: u64,
        side: Side,
        complete: bool,
        reason: Option<String>,
    },
}
