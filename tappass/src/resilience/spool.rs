//! The durable audit spool: records of audit events in JSON Lines files
//! under one directory, appended by the calls and the reporter, read and
//! acknowledged in order by the flush.
//!
//! Layout of the directory:
//!
//! - `NNNNNNNNNNNNNNNNNNNN.jsonl`: the segments, numbered in order of
//!   creation. Each line is one record, `{"key":"<Idempotency-Key>","body":[…]}`:
//!   the key and the exact body of one `POST /v1/events`, so that a record
//!   sent again after an interruption is the same request, which a server
//!   that honours the key records once. A new segment starts when the last
//!   one reaches an eighth of the bound.
//! - `cursor`: `<segment> <offset>`, where the flush resumes: the first byte
//!   of the first record not yet acknowledged. Written (to a temporary file,
//!   then renamed over it) after each acknowledged record; a segment whose
//!   records are all acknowledged is deleted.
//!
//! When opened, the spool reads the segments and the cursor; a last line cut
//! short by a crash (no newline, or not JSON) was never acknowledged to
//! anyone, and is cut off. Records past the bound are dropped a segment at a
//! time (the oldest first, counted) or refused, as the spool was configured.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::{AuditSpool, Fsync, WhenFull};

/// The largest record the spool takes (and never more than half its bound):
/// an event batch the server would refuse anyway is not kept (the dev
/// server takes events of up to 64 KiB).
pub(crate) const MAX_RECORD_BYTES: usize = 1 << 20;

/// One record read back for the flush.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub(crate) key: String,
    pub(crate) body: Bytes,
    /// Where it is: its segment and the offset just past its line.
    segment: u64,
    end: u64,
}

/// Why a record was not appended.
#[derive(Debug)]
pub(crate) enum Refused {
    /// The spool is full and configured to fail closed.
    Full,
    /// Writing failed (the disk is full, the directory is gone, …).
    Io(io::Error),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Full => f.write_str("the audit spool is full (WhenFull::FailClosed)"),
            Refused::Io(err) => write!(f, "the audit spool could not be written: {err}"),
        }
    }
}

struct Segment {
    id: u64,
    len: u64,
    /// Its records (complete lines).
    records: u64,
}

struct State {
    /// Oldest first; the last is the one appended to.
    segments: Vec<Segment>,
    head: Option<File>,
    /// The first record not yet acknowledged: (segment, offset).
    cursor: (u64, u64),
    /// Records of the cursor's segment before the cursor.
    acked_in_first: u64,
    /// The bytes of every segment.
    bytes: u64,
    /// The number of the next segment.
    next_id: u64,
}

/// The spool; see the module's documentation.
pub(crate) struct Spool {
    config: AuditSpool,
    segment_bytes: u64,
    state: Mutex<State>,
    dropped: Arc<AtomicU64>,
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.jsonl"))
}

/// Reads one line of a segment as a record: `None` when it is not one the
/// spool wrote (cut short, or not JSON).
fn parse_line(line: &[u8]) -> Option<(String, Bytes)> {
    let rest = line.strip_prefix(b"{\"key\":\"")?;
    let quote = rest.iter().position(|&b| b == b'"')?;
    let key = std::str::from_utf8(&rest[..quote]).ok()?;
    if key.is_empty()
        || !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return None;
    }
    let body = rest[quote..]
        .strip_prefix(b"\",\"body\":")?
        .strip_suffix(b"}")?;
    serde_json::from_slice::<serde::de::IgnoredAny>(body).ok()?;
    Some((key.to_owned(), Bytes::copy_from_slice(body)))
}

/// Scans a segment: the length of its complete, well-formed records and how
/// many there are. What follows the last good line is a torn write.
fn scan(path: &Path) -> io::Result<(u64, u64)> {
    let mut reader = BufReader::new(File::open(path)?);
    let (mut good, mut records) = (0u64, 0u64);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 || line.last() != Some(&b'\n') || parse_line(&line[..n - 1]).is_none() {
            return Ok((good, records));
        }
        good += n as u64;
        records += 1;
    }
}

/// Counts the complete lines of `path` before `offset`.
fn lines_before(path: &Path, offset: u64) -> io::Result<u64> {
    let mut bytes = Vec::new();
    File::open(path)?.take(offset).read_to_end(&mut bytes)?;
    Ok(bytes.iter().filter(|&&b| b == b'\n').count() as u64)
}

impl Spool {
    /// Opens (or creates) the spool in `config.dir`, repairing a torn tail.
    pub(crate) fn open(config: AuditSpool, dropped: Arc<AtomicU64>) -> io::Result<Spool> {
        let dir = config.dir.clone();
        fs::create_dir_all(&dir)?;
        let mut ids: Vec<u64> = Vec::new();
        for entry in fs::read_dir(&dir)? {
            let name = entry?.file_name();
            let name = name.to_string_lossy();
            if let Some(id) = name.strip_suffix(".jsonl").and_then(|n| n.parse().ok()) {
                ids.push(id);
            }
        }
        ids.sort_unstable();
        let mut segments = Vec::with_capacity(ids.len());
        for id in ids {
            let path = segment_path(&dir, id);
            let (len, records) = scan(&path)?;
            if fs::metadata(&path)?.len() != len {
                // A torn last write: cut it off, so appends start on a line.
                OpenOptions::new().write(true).open(&path)?.set_len(len)?;
            }
            segments.push(Segment { id, len, records });
        }
        let cursor = read_cursor(&dir);
        let next_id = segments_next(&ids_of(&segments));
        let mut state = State {
            segments,
            head: None,
            cursor: (0, 0),
            acked_in_first: 0,
            bytes: 0,
            next_id,
        };
        // Segments wholly before the cursor were acknowledged: gone.
        while let (Some(first), Some((segment, offset))) = (state.segments.first(), cursor) {
            if first.id < segment
                || (first.id == segment && offset >= first.len && state.segments.len() > 1)
            {
                let _ = fs::remove_file(segment_path(&dir, first.id));
                state.segments.remove(0);
            } else {
                break;
            }
        }
        if let Some(first) = state.segments.first() {
            state.cursor = match cursor {
                Some((segment, offset)) if segment == first.id => (segment, offset.min(first.len)),
                _ => (first.id, 0),
            };
            state.acked_in_first = lines_before(&segment_path(&dir, first.id), state.cursor.1)?;
        }
        state.bytes = state.segments.iter().map(|s| s.len).sum();
        let segment_bytes = (config.max_bytes / 8).max(8 << 10);
        Ok(Spool {
            config,
            segment_bytes,
            state: Mutex::new(state),
            dropped,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.config.dir
    }

    /// The records not yet acknowledged.
    pub(crate) fn pending(&self) -> u64 {
        let state = self.lock();
        let all: u64 = state.segments.iter().map(|s| s.records).sum();
        all - state.acked_in_first
    }

    /// The bytes of the spool's files.
    pub(crate) fn bytes(&self) -> u64 {
        self.lock().bytes
    }

    /// Appends one record (the key and exact body of one `POST /v1/events`),
    /// written to its file before this returns.
    pub(crate) fn append(&self, key: &str, body: &[u8]) -> Result<(), Refused> {
        let mut line = Vec::with_capacity(body.len() + key.len() + 20);
        line.extend_from_slice(b"{\"key\":\"");
        line.extend_from_slice(key.as_bytes());
        line.extend_from_slice(b"\",\"body\":");
        line.extend_from_slice(body);
        line.extend_from_slice(b"}\n");
        let limit = MAX_RECORD_BYTES.min(self.config.max_bytes as usize / 2);
        if line.len() > limit {
            return Err(Refused::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a record of {} bytes is over the spool's {limit}-byte limit for one record (half its bound, at most 1 MiB)",
                    line.len()
                ),
            )));
        }
        let len = line.len() as u64;
        let mut state = self.lock();
        if state.bytes + len > self.config.max_bytes {
            match self.config.when_full {
                WhenFull::FailClosed => return Err(Refused::Full),
                WhenFull::DropOldest => self.make_room(&mut state, len).map_err(Refused::Io)?,
            }
        }
        let roll = state
            .segments
            .last()
            .is_none_or(|s| s.len > 0 && s.len + len > self.segment_bytes);
        if roll || state.head.is_none() {
            self.open_head(&mut state, roll).map_err(Refused::Io)?;
        }
        let head = state.head.as_mut().expect("opened above");
        let written = head
            .write_all(&line)
            .and_then(|()| match self.config.fsync {
                Fsync::Always => head.sync_data(),
                Fsync::Never => Ok(()),
            });
        if let Err(err) = written {
            // Whatever part of the line reached the file is cut off when the
            // spool is next opened; this handle is not written to again.
            state.head = None;
            return Err(Refused::Io(err));
        }
        let segment = state.segments.last_mut().expect("a head segment");
        segment.len += len;
        segment.records += 1;
        state.bytes += len;
        Ok(())
    }

    /// Opens the segment to append to: a new one after the last when `roll`
    /// (the last one is synced and closed), else the last one.
    fn open_head(&self, state: &mut State, roll: bool) -> io::Result<()> {
        if roll {
            if let Some(head) = state.head.take() {
                head.sync_data()?;
            }
            let id = state.next_id;
            state.next_id += 1;
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(segment_path(&self.config.dir, id))?;
            if state.segments.is_empty() {
                state.cursor = (id, 0);
                state.acked_in_first = 0;
            }
            state.segments.push(Segment {
                id,
                len: 0,
                records: 0,
            });
            state.head = Some(file);
        } else {
            let id = state.segments.last().expect("a segment").id;
            state.head = Some(
                OpenOptions::new()
                    .append(true)
                    .open(segment_path(&self.config.dir, id))?,
            );
        }
        Ok(())
    }

    /// Drops the oldest segments until `len` more bytes fit, counting the
    /// records in them that were not acknowledged.
    fn make_room(&self, state: &mut State, len: u64) -> io::Result<()> {
        let mut lost = 0;
        while state.bytes + len > self.config.max_bytes && !state.segments.is_empty() {
            let first = state.segments.remove(0);
            lost += first.records - state.acked_in_first;
            state.bytes -= first.len;
            if state.segments.is_empty() {
                state.head = None;
            }
            fs::remove_file(segment_path(&self.config.dir, first.id))?;
            state.acked_in_first = 0;
            state.cursor = state
                .segments
                .first()
                .map_or((state.next_id, 0), |s| (s.id, 0));
        }
        if lost > 0 {
            let before = self.dropped.fetch_add(lost, Ordering::Relaxed);
            tracing::warn!(
                dropped = lost,
                dropped_total = before + lost,
                dir = %self.config.dir.display(),
                "the TapPass audit spool is full: its oldest undelivered events were dropped (WhenFull::DropOldest)"
            );
        }
        self.write_cursor(state)
    }

    /// Up to `max` records from the cursor, in order.
    pub(crate) fn peek(&self, max: usize) -> io::Result<Vec<Record>> {
        let (segment, offset, len) = {
            let state = self.lock();
            match state.segments.first() {
                Some(first) => (first.id, state.cursor.1, first.len),
                None => return Ok(Vec::new()),
            }
        };
        let mut records = Vec::new();
        if offset < len {
            let mut file = File::open(segment_path(&self.config.dir, segment))?;
            file.seek(SeekFrom::Start(offset))?;
            let mut reader = BufReader::new(file.take(len - offset));
            let mut at = offset;
            let mut line = Vec::new();
            while records.len() < max {
                line.clear();
                let n = reader.read_until(b'\n', &mut line)?;
                if n == 0 {
                    break;
                }
                at += n as u64;
                let parsed = line.strip_suffix(b"\n").and_then(parse_line);
                match parsed {
                    Some((key, body)) => records.push(Record {
                        key,
                        body,
                        segment,
                        end: at,
                    }),
                    // Checked when the segment was scanned or written: a
                    // line that no longer reads is skipped, and said so.
                    None => {
                        tracing::error!(
                            segment,
                            offset = at - n as u64,
                            "an unreadable record of the TapPass audit spool was skipped"
                        );
                        self.dropped.fetch_add(1, Ordering::Relaxed);
                        self.ack_to(segment, at)?;
                    }
                }
            }
        } else {
            // The first segment is all acknowledged: move on if it is not
            // the one appended to.
            self.ack_to(segment, offset)?;
            let next = self.lock().segments.first().map(|s| s.id);
            if next != Some(segment) {
                return self.peek(max);
            }
        }
        Ok(records)
    }

    /// Acknowledges `record`: the server took it.
    pub(crate) fn ack(&self, record: &Record) -> io::Result<()> {
        self.ack_to(record.segment, record.end)
    }

    fn ack_to(&self, segment: u64, end: u64) -> io::Result<()> {
        let mut state = self.lock();
        // The segment was dropped meanwhile (full, oldest first): nothing to do.
        if state.cursor.0 != segment || end < state.cursor.1 {
            return Ok(());
        }
        if end > state.cursor.1 {
            state.acked_in_first += 1;
        }
        state.cursor.1 = end;
        let done = state
            .segments
            .first()
            .is_some_and(|s| s.id == segment && end >= s.len);
        if done && state.segments.len() > 1 {
            let first = state.segments.remove(0);
            state.bytes -= first.len;
            fs::remove_file(segment_path(&self.config.dir, first.id))?;
            let next = state.segments[0].id;
            state.cursor = (next, 0);
            state.acked_in_first = 0;
        }
        self.write_cursor(&state)
    }

    fn write_cursor(&self, state: &State) -> io::Result<()> {
        let dir = &self.config.dir;
        let tmp = dir.join("cursor.tmp");
        let mut file = File::create(&tmp)?;
        writeln!(file, "{} {}", state.cursor.0, state.cursor.1)?;
        if self.config.fsync == Fsync::Always {
            file.sync_data()?;
        }
        drop(file);
        fs::rename(tmp, dir.join("cursor"))
    }
}

fn ids_of(segments: &[Segment]) -> Vec<u64> {
    segments.iter().map(|s| s.id).collect()
}

/// The number after the highest of `ids` (1 for none).
fn segments_next(ids: &[u64]) -> u64 {
    ids.iter().max().map_or(1, |id| id + 1)
}

/// The cursor file's `(segment, offset)`, when it reads.
fn read_cursor(dir: &Path) -> Option<(u64, u64)> {
    let text = fs::read_to_string(dir.join("cursor")).ok()?;
    let mut parts = text.split_whitespace();
    let segment = parts.next()?.parse().ok()?;
    let offset = parts.next()?.parse().ok()?;
    Some((segment, offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "tappass-spool-{name}-{}-{:x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn body(i: usize) -> Vec<u8> {
        format!("[{{\"event_type\":\"e\",\"details\":{{\"n\":{i}}}}}]").into_bytes()
    }

    fn open(dir: &Path, max: u64, when_full: WhenFull) -> Spool {
        Spool::open(
            AuditSpool::new(dir).max_bytes(max).when_full(when_full),
            Arc::new(AtomicU64::new(0)),
        )
        .expect("opens")
    }

    #[test]
    fn records_come_back_in_order_across_segments_and_reopening() {
        let dir = dir("order");
        let spool = open(&dir, 256 << 10, WhenFull::DropOldest);
        for i in 0..2000 {
            spool.append(&format!("k{i}"), &body(i)).unwrap();
        }
        assert!(spool.lock().segments.len() > 1, "several segments");
        let mut seen = Vec::new();
        while seen.len() < 700 {
            for record in spool.peek((700 - seen.len()).min(100)).unwrap() {
                seen.push(record.key.clone());
                spool.ack(&record).unwrap();
            }
        }
        drop(spool);
        // A restart resumes where the acknowledgements stopped.
        let spool = open(&dir, 256 << 10, WhenFull::DropOldest);
        assert_eq!(spool.pending(), 1300);
        loop {
            let records = spool.peek(128).unwrap();
            if records.is_empty() {
                break;
            }
            for record in records {
                seen.push(record.key.clone());
                spool.ack(&record).unwrap();
            }
        }
        let expected: Vec<String> = (0..2000).map(|i| format!("k{i}")).collect();
        assert_eq!(seen, expected);
        assert_eq!(spool.pending(), 0);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_torn_last_line_is_cut_off_and_appends_go_on() {
        let dir = dir("torn");
        let spool = open(&dir, 1 << 20, WhenFull::DropOldest);
        spool.append("a", &body(1)).unwrap();
        drop(spool);
        let path = segment_path(&dir, 1);
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"{\"key\":\"b\",\"body\":[{\"event_ty")
            .unwrap();
        drop(file);
        let spool = open(&dir, 1 << 20, WhenFull::DropOldest);
        assert_eq!(spool.pending(), 1);
        spool.append("c", &body(3)).unwrap();
        let keys: Vec<String> = spool.peek(10).unwrap().into_iter().map(|r| r.key).collect();
        assert_eq!(keys, ["a", "c"]);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_full_spool_drops_the_oldest_and_counts_or_refuses() {
        let dir_drop = dir("full-drop");
        let spool = open(&dir_drop, 64 << 10, WhenFull::DropOldest);
        for i in 0..5000 {
            spool.append(&format!("k{i}"), &body(i)).unwrap();
            assert!(spool.bytes() <= 64 << 10, "never over the bound");
        }
        let dropped = spool.dropped.load(Ordering::Relaxed);
        assert!(dropped > 0);
        assert_eq!(
            spool.pending() + dropped,
            5000,
            "every record kept or counted"
        );
        let first = spool.peek(1).unwrap().remove(0);
        assert_eq!(first.key, format!("k{dropped}"), "the oldest went first");

        let dir_refuse = dir("full-refuse");
        let spool = open(&dir_refuse, 64 << 10, WhenFull::FailClosed);
        let mut refused = 0;
        for i in 0..5000 {
            match spool.append(&format!("k{i}"), &body(i)) {
                Ok(()) => assert_eq!(refused, 0, "nothing is appended once refused"),
                Err(Refused::Full) => refused += 1,
                Err(err) => panic!("{err}"),
            }
        }
        assert!(refused > 0 && spool.bytes() <= 64 << 10);
        assert_eq!(spool.dropped.load(Ordering::Relaxed), 0);
        assert_eq!(spool.peek(1).unwrap()[0].key, "k0", "nothing was dropped");
        fs::remove_dir_all(dir_drop).unwrap();
        fs::remove_dir_all(dir_refuse).unwrap();
    }
}
