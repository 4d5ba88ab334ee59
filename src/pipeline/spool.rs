//! Records leave memory as soon as they are found. A worker thread serialises each
//! DNS, TLS, HTTP and QUIC record to compact JSON (the part DNS, TLS and HTTP
//! records share is written by `pipeline::json`) in an unnamed temporary file per
//! kind (in `$TMPDIR`, deleted by the system when closed); the report copies those
//! bytes into its arrays. Memory is bounded by the channel between the two threads,
//! not by the number of records, and the serialisation runs beside the pass.
//!
//! The worker hands each batch back once written, and the pass drops its records:
//! they were allocated on the pass's thread, and freeing them there is the
//! allocator's fast path (a block freed on another thread goes through a list the
//! owner has to collect from).
//!
//! A spool holds its records in the order they were found, separated by commas:
//! exactly the inside of the report's JSON array. Its file and buffer are created with
//! its first record, so a capture with no QUIC (say) costs no QUIC file.

use super::json;
use super::records::{DnsRecord, HttpRecord, NbnsRecord, ProxyRecord, QuicRecord, Seen, TlsRecord};
use serde::Serialize;
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

/// Records sent to the worker at once.
const BATCH: usize = 256;
/// Batches in flight; the pass waits when the worker falls this far behind.
const IN_FLIGHT: usize = 16;
/// Written batches waiting to be dropped by the pass at most; the worker drops
/// any more itself rather than wait.
const RETURNED: usize = 4;

/// One record on its way to a spool.
pub enum Item {
    Dns(DnsRecord),
    Tls(TlsRecord),
    Http(HttpRecord),
    Quic(QuicRecord),
    Proxy(ProxyRecord),
    Nbns(NbnsRecord),
}

/// The sending side, owned by the pass.
pub(crate) struct Spooler {
    batch: Vec<Item>,
    tx: Option<SyncSender<Vec<Item>>>,
    /// Batches the worker has written, for their records to be dropped here.
    written: Receiver<Vec<Item>>,
    worker: Option<JoinHandle<io::Result<Spooled>>>,
}

impl Spooler {
    /// Starts the worker; it creates each temporary file with its first record.
    pub(crate) fn new() -> io::Result<Spooler> {
        let mut spooled = Spooled {
            dns: Spool::default(),
            tls: Spool::default(),
            http: Spool::default(),
            quic: Spool::default(),
            proxy: Spool::default(),
            nbns: Spool::default(),
        };
        let (tx, rx) = sync_channel::<Vec<Item>>(IN_FLIGHT);
        let (give_back, written) = sync_channel::<Vec<Item>>(RETURNED);
        let worker = std::thread::Builder::new()
            .name("whohosts-spool".into())
            .spawn(move || {
                work(&mut spooled, rx, &give_back)?;
                Ok(spooled)
            })?;
        Ok(Spooler {
            batch: Vec::with_capacity(BATCH),
            tx: Some(tx),
            written,
            worker: Some(worker),
        })
    }

    pub(crate) fn push(&mut self, item: Item) {
        self.batch.push(item);
        if self.batch.len() >= BATCH {
            self.send();
        }
    }

    fn send(&mut self) {
        // The records of written batches are dropped here, where they were made; the
        // last batch's allocation takes the next records.
        let mut next = None;
        while let Ok(mut done) = self.written.try_recv() {
            done.clear();
            next = Some(done);
        }
        let next = next.unwrap_or_else(|| Vec::with_capacity(BATCH));
        let batch = std::mem::replace(&mut self.batch, next);
        if let Some(tx) = &self.tx {
            // A send fails only when the worker has stopped on a write error, which
            // `finish` reports.
            if tx.send(batch).is_err() {
                self.tx = None;
            }
        }
    }

    /// Flushes what is left and waits for the worker: the spools, or the first
    /// write error.
    pub(crate) fn finish(mut self) -> io::Result<Spooled> {
        if !self.batch.is_empty() {
            self.send();
        }
        self.tx = None;
        match self.worker.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(io::Error::other("the record spool worker panicked")),
            None => Err(io::Error::other("the record spool was already finished")),
        }
    }
}

impl Drop for Spooler {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

fn work(
    s: &mut Spooled,
    rx: Receiver<Vec<Item>>,
    give_back: &SyncSender<Vec<Item>>,
) -> io::Result<()> {
    // A record is written into `out`, then appended.
    let mut out = Vec::new();
    for batch in rx {
        for item in &batch {
            match item {
                Item::Dns(r) => s.dns.append_flattened(r, &r.seen, &r.message, &mut out)?,
                Item::Tls(r) => s.tls.append_flattened(r, &r.seen, &r.handshake, &mut out)?,
                Item::Http(r) => s.http.append_flattened(r, &r.seen, &r.message, &mut out)?,
                Item::Quic(r) => s.quic.append(r)?,
                Item::Proxy(r) => s.proxy.append(r)?,
                Item::Nbns(r) => s.nbns.append(r)?,
            }
        }
        // Back to the pass to be dropped; dropped here when the pass has not
        // taken the ones before (it never waits for this).
        let _ = give_back.try_send(batch);
    }
    for spool in [
        &mut s.dns,
        &mut s.tls,
        &mut s.http,
        &mut s.quic,
        &mut s.proxy,
        &mut s.nbns,
    ] {
        if let Some(out) = &mut spool.out {
            out.flush()?;
        }
    }
    Ok(())
}

/// The spools of one capture.
pub struct Spooled {
    pub dns: Spool,
    pub tls: Spool,
    pub http: Spool,
    pub quic: Spool,
    pub proxy: Spool,
    pub nbns: Spool,
}

/// Records of one kind, as the comma-separated inside of a JSON array.
#[derive(Default)]
pub struct Spool {
    /// The temporary file, from the first record on.
    out: Option<BufWriter<File>>,
}

impl Spool {
    /// Writes the next record with `write`, after a comma when it is not the first;
    /// the file is made with the first record.
    fn write_next(
        &mut self,
        write: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
    ) -> io::Result<()> {
        let out = match &mut self.out {
            Some(out) => {
                out.write_all(b",")?;
                out
            }
            None => self
                .out
                .insert(BufWriter::with_capacity(256 << 10, tempfile::tempfile()?)),
        };
        write(out)
    }

    fn append<T: Serialize>(&mut self, record: &T) -> io::Result<()> {
        self.write_next(|out| serde_json::to_writer(out, record).map_err(io::Error::other))
    }

    /// Appends `record`, made of `seen` and `rest` flattened into one object,
    /// written by [`json::record`] into `out`: what serde_json writes for
    /// `record`, only faster.
    fn append_flattened<R: Serialize, T: Serialize>(
        &mut self,
        record: &R,
        seen: &Seen,
        rest: &T,
        out: &mut Vec<u8>,
    ) -> io::Result<()> {
        out.clear();
        if !json::record(out, seen, rest) {
            return self.append(record);
        }
        debug_assert_eq!(
            String::from_utf8_lossy(out),
            String::from_utf8_lossy(&serde_json::to_vec(record).unwrap_or_default()),
            "a record written as serde_json would not"
        );
        self.write_next(|file| file.write_all(out))
    }

    pub fn is_empty(&self) -> bool {
        self.out.is_none()
    }

    /// Copies the records, comma-separated, to `w`.
    pub(crate) fn copy_to<W: Write>(&self, w: &mut io::BufWriter<W>) -> io::Result<()> {
        let Some(out) = &self.out else {
            return Ok(());
        };
        let mut f = out.get_ref();
        f.seek(SeekFrom::Start(0))?;
        copy_file(f, w)
    }

    /// Calls `f` with each record, read back and deserialised one at a time (as
    /// `T`, which may keep only the fields it names): memory holds one record, not
    /// the file.
    pub fn for_each<T: serde::de::DeserializeOwned>(
        &self,
        f: impl FnMut(T) -> io::Result<()>,
    ) -> io::Result<()> {
        struct Each<F, T>(F, Option<io::Error>, std::marker::PhantomData<T>);
        impl<'de, T: serde::de::DeserializeOwned, F: FnMut(T) -> io::Result<()>>
            serde::de::Visitor<'de> for &mut Each<F, T>
        {
            type Value = ();
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("records")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
                while let Some(record) = seq.next_element::<T>()? {
                    if let Err(e) = (self.0)(record) {
                        let text = e.to_string();
                        self.1 = Some(e);
                        return Err(serde::de::Error::custom(text));
                    }
                }
                Ok(())
            }
        }
        let Some(out) = &self.out else {
            return Ok(());
        };
        let mut file = out.get_ref();
        file.seek(SeekFrom::Start(0))?;
        let text = io::Cursor::new(b"[")
            .chain(io::BufReader::with_capacity(256 << 10, file))
            .chain(io::Cursor::new(b"]"));
        let mut each = Each(f, None, std::marker::PhantomData);
        let mut de = serde_json::Deserializer::from_reader(text);
        match serde::Deserializer::deserialize_seq(&mut de, &mut each) {
            Ok(()) => Ok(()),
            Err(e) => Err(each.1.take().unwrap_or_else(|| io::Error::other(e))),
        }
    }

    /// The records read back as JSON values, for tests and small captures.
    pub fn values(&self) -> io::Result<Vec<serde_json::Value>> {
        let mut text = b"[".to_vec();
        if let Some(out) = &self.out {
            let mut f = out.get_ref();
            f.seek(SeekFrom::Start(0))?;
            f.read_to_end(&mut text)?;
        }
        text.push(b']');
        serde_json::from_slice(&text).map_err(io::Error::other)
    }
}

/// Copies the rest of `f` into `w`. Where `W` is a file or the standard output, the
/// kernel copies (`io::copy` flushes the buffer, then uses `copy_file_range` or
/// `sendfile`); else the bytes are read straight into the writer's buffer, a
/// buffer's room at a time.
pub(crate) fn copy_file<W: Write>(mut f: &File, w: &mut io::BufWriter<W>) -> io::Result<()> {
    io::copy(&mut f, w).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_spool_has_no_file_and_copies_nothing() {
        let s = Spool::default();
        assert!(s.is_empty());
        let mut out = io::BufWriter::new(Vec::new());
        s.copy_to(&mut out).unwrap();
        assert!(out.into_inner().unwrap().is_empty());
        assert!(s.values().unwrap().is_empty());
    }

    #[test]
    fn records_are_comma_separated_in_order() {
        let mut s = Spool::default();
        s.append(&serde_json::json!({"n": 1})).unwrap();
        s.append(&"two").unwrap();
        s.out.as_mut().unwrap().flush().unwrap();
        let mut out = io::BufWriter::new(Vec::new());
        s.copy_to(&mut out).unwrap();
        assert_eq!(out.into_inner().unwrap(), br#"{"n":1},"two""#);
        // Into a file, the kernel copies, after what the writer holds.
        let mut file = io::BufWriter::new(tempfile::tempfile().unwrap());
        file.write_all(b"[").unwrap();
        s.copy_to(&mut file).unwrap();
        file.write_all(b"]").unwrap();
        let mut file = file.into_inner().unwrap();
        let mut text = String::new();
        file.seek(SeekFrom::Start(0)).unwrap();
        file.read_to_string(&mut text).unwrap();
        assert_eq!(text, r#"[{"n":1},"two"]"#);
        assert_eq!(
            s.values().unwrap(),
            [serde_json::json!({"n": 1}), "two".into()]
        );
    }

    #[test]
    fn records_are_read_back_one_at_a_time_as_the_fields_asked_for() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct N {
            n: u32,
        }
        let mut s = Spool::default();
        let mut none = Vec::new();
        s.for_each(|n: N| {
            none.push(n);
            Ok(())
        })
        .unwrap();
        assert!(none.is_empty());
        for n in 0..3000 {
            s.append(&serde_json::json!({"n": n, "rest": "x".repeat(200)}))
                .unwrap();
        }
        s.out.as_mut().unwrap().flush().unwrap();
        let mut seen = Vec::new();
        s.for_each(|n: N| {
            seen.push(n.n);
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, (0..3000).collect::<Vec<_>>());
        // The caller's error ends the walk and is the one returned.
        let mut calls = 0;
        let e = s
            .for_each(|_: N| {
                calls += 1;
                Err(io::Error::new(io::ErrorKind::InvalidData, "stop here"))
            })
            .unwrap_err();
        assert_eq!(
            (calls, e.kind(), e.to_string()),
            (1, io::ErrorKind::InvalidData, "stop here".to_string())
        );
        // A record of another shape is an error, not a shorter list.
        let mut other = Spool::default();
        other.append(&"not a record").unwrap();
        other.out.as_mut().unwrap().flush().unwrap();
        assert!(other.for_each(|_: N| Ok(())).is_err());
    }
}
