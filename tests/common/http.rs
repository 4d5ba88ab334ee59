//! A small HTTP/1.1 server on 127.0.0.1 for the online tests: feed downloads and RDAP
//! answers. Each route answers with a status, headers and a body, optionally after a
//! delay, cut short of its `Content-Length`, or with 304 when the request's
//! `If-None-Match` matches its ETag. One request per connection (`Connection:
//! close`); every request is recorded. The server stops when dropped; reads and
//! writes time out after five seconds, so nothing here can hang a test.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Debug, Default)]
pub(crate) struct Route {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Wait this long before answering.
    pub delay: Option<Duration>,
    /// Send only this many body bytes (the `Content-Length` still announces all).
    pub truncate_at: Option<usize>,
    /// Answer 304 to a request whose `If-None-Match` is this.
    pub etag: Option<String>,
}

impl Route {
    pub(crate) fn ok(content_type: &str, body: impl Into<Vec<u8>>) -> Route {
        Route {
            status: 200,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
            ..Route::default()
        }
    }

    pub(crate) fn status(status: u16) -> Route {
        Route {
            status,
            body: format!("status {status}\n").into_bytes(),
            ..Route::default()
        }
    }

    pub(crate) fn redirect(to: &str) -> Route {
        Route {
            status: 302,
            headers: vec![("Location".into(), to.into())],
            ..Route::default()
        }
    }

    pub(crate) fn with_etag(mut self, etag: &str) -> Route {
        self.etag = Some(etag.into());
        self.headers.push(("ETag".into(), etag.into()));
        self
    }
}

/// A request as received.
#[derive(Clone, Debug)]
pub(crate) struct Seen {
    pub path: String,
    /// Header names in lower case.
    pub headers: BTreeMap<String, String>,
}

pub(crate) struct Server {
    pub addr: SocketAddr,
    routes: Arc<Mutex<BTreeMap<String, Route>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    pub(crate) fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().unwrap();
        let routes: Arc<Mutex<BTreeMap<String, Route>>> = Arc::default();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s, st) = (routes.clone(), seen.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (r, s) = (r.clone(), s.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, &r, &s);
                });
            }
        });
        Server {
            addr,
            routes,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub(crate) fn route(&self, path: &str, route: Route) {
        self.routes.lock().unwrap().insert(path.to_string(), route);
    }

    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(
    conn: TcpStream,
    routes: &Mutex<BTreeMap<String, Route>>,
    seen: &Mutex<Vec<Seen>>,
) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    conn.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    seen.lock().unwrap().push(Seen {
        path: path.clone(),
        headers: headers.clone(),
    });
    let route = routes
        .lock()
        .unwrap()
        .get(&path)
        .cloned()
        .unwrap_or_else(|| Route::status(404));
    if let Some(d) = route.delay {
        std::thread::sleep(d);
    }
    let mut conn = conn;
    if route.etag.is_some() && headers.get("if-none-match") == route.etag.as_ref() {
        write!(
            conn,
            "HTTP/1.1 304 Not Modified\r\nETag: {}\r\nConnection: close\r\n\r\n",
            route.etag.as_deref().unwrap_or("")
        )?;
        return conn.flush();
    }
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        route.status,
        reason(route.status),
        route.body.len()
    );
    for (k, v) in &route.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    conn.write_all(head.as_bytes())?;
    let n = route
        .truncate_at
        .unwrap_or(route.body.len())
        .min(route.body.len());
    conn.write_all(&route.body[..n])?;
    conn.flush()?;
    let _ = conn.shutdown(std::net::Shutdown::Both);
    Ok(())
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}
