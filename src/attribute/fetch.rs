//! HTTP GET for the online parts (feed downloads, RDAP), through `ureq`: bounded in
//! time and size, redirects followed and recorded, conditional requests, the body
//! checked against its announced length.
//!
//! Contract: every failure (unreachable server, timeout, an error status when the
//! caller does not accept it, a body larger than the limit, a body shorter than its
//! `Content-Length`) is a [`FetchError`] with the URL; nothing here panics or waits
//! longer than the timeout.

use std::io::Read;
use std::time::Duration;
use ureq::ResponseExt;

/// What to ask for.
#[derive(Clone, Debug)]
pub(crate) struct Request<'a> {
    pub url: &'a str,
    /// `If-None-Match`.
    pub etag: Option<&'a str>,
    /// `If-Modified-Since` (an HTTP date, as the server gave it).
    pub last_modified: Option<&'a str>,
    pub accept: &'a str,
    /// Overall time limit, connection to last byte.
    pub timeout: Duration,
    /// Largest body accepted.
    pub max_bytes: u64,
}

/// What came back.
#[derive(Clone, Debug)]
pub(crate) struct Response {
    pub status: u16,
    /// The URL that answered, after redirects.
    pub final_url: String,
    /// Every URL visited, the request's first.
    pub redirects: Vec<String>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum FetchError {
    #[error("{url}: {reason}")]
    Transport { url: String, reason: String },
    #[error("{url}: the body is larger than {limit} bytes")]
    TooLarge { url: String, limit: u64 },
    #[error("{url}: truncated: {got} bytes of the {announced} announced by Content-Length")]
    Truncated {
        url: String,
        got: u64,
        announced: u64,
    },
}

/// The `User-Agent` sent: the program and its version.
pub(crate) fn user_agent() -> String {
    format!("whohosts/{}", env!("CARGO_PKG_VERSION"))
}

/// Sends one GET. Any status is returned (304 and errors included); `progress` is
/// called with the bytes received so far and the announced length.
pub(crate) fn get(
    req: &Request<'_>,
    progress: &mut dyn FnMut(u64, Option<u64>),
) -> Result<Response, FetchError> {
    let url = req.url.to_string();
    let transport = |reason: String| FetchError::Transport {
        url: url.clone(),
        reason,
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(req.timeout))
        .http_status_as_error(false)
        .max_redirects(5)
        .save_redirect_history(true)
        .user_agent(user_agent())
        .build()
        .into();
    let mut r = agent.get(req.url).header("Accept", req.accept);
    if let Some(e) = req.etag {
        r = r.header("If-None-Match", e);
    }
    if let Some(m) = req.last_modified {
        r = r.header("If-Modified-Since", m);
    }
    let mut resp = r.call().map_err(|e| match e {
        ureq::Error::Timeout(_) => transport(format!(
            "timed out after {} s without a complete answer",
            req.timeout.as_secs_f64()
        )),
        e => transport(e.to_string()),
    })?;
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let etag = header("etag");
    let last_modified = header("last-modified");
    let content_type = header("content-type");
    let announced: Option<u64> = header("content-length").and_then(|v| v.trim().parse().ok());
    let status = resp.status().as_u16();
    let final_url = resp.get_uri().to_string();
    let redirects = resp
        .get_redirect_history()
        .map(|h| h.iter().map(ToString::to_string).collect())
        .unwrap_or_else(|| vec![url.clone()]);
    if announced.is_some_and(|n| n > req.max_bytes) {
        return Err(FetchError::TooLarge {
            url,
            limit: req.max_bytes,
        });
    }
    let mut body = Vec::new();
    if status != 304 {
        let mut reader = resp
            .body_mut()
            .with_config()
            .limit(req.max_bytes + 1)
            .reader();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    body.extend_from_slice(buf.get(..n).unwrap_or_default());
                    if body.len() as u64 > req.max_bytes {
                        return Err(FetchError::TooLarge {
                            url,
                            limit: req.max_bytes,
                        });
                    }
                    progress(body.len() as u64, announced);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // A connection closed before Content-Length bytes is a truncation.
                    if let Some(n) = announced {
                        if (body.len() as u64) < n {
                            return Err(FetchError::Truncated {
                                url,
                                got: body.len() as u64,
                                announced: n,
                            });
                        }
                    }
                    return Err(transport(format!("reading the body: {e}")));
                }
            }
        }
        if let Some(n) = announced {
            if (body.len() as u64) < n {
                return Err(FetchError::Truncated {
                    url,
                    got: body.len() as u64,
                    announced: n,
                });
            }
        }
    }
    Ok(Response {
        status,
        final_url,
        redirects,
        etag,
        last_modified,
        content_type,
        body,
    })
}
