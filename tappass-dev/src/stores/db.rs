//! The server's state in SQLite, for `--db FILE`
//! ([`DevServerBuilder::db`](crate::DevServerBuilder::db)): the stores write
//! through to it and read it back at start.
//!
//! The stores stay in memory as without a file (the pages and routes read
//! them there); each change is written to the file before the route that
//! made it answers: an event before `POST /v1/events` acknowledges it (the
//! batch and its `Idempotency-Key` in one transaction), an approval when it
//! is opened, decided or used, an idempotent answer when it is remembered,
//! a mandate when it is issued or revoked, and every mandate signing key,
//! so that mandates issued before a restart still verify. What the stores
//! evict is deleted from the file too, so it stays as bounded as they are.
//!
//! The file is in WAL mode with `synchronous = NORMAL`: a transaction is
//! in the file's write-ahead log when its statement returns, so a crash or
//! a `SIGKILL` of the server loses nothing it acknowledged; a power loss may
//! lose the last transactions (SQLite's own guarantee for this setting).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::Error;

/// The schema's version, kept in `PRAGMA user_version`.
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS event_keys (key TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS approvals (request_id TEXT PRIMARY KEY, row TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, request BLOB NOT NULL,
    status INTEGER NOT NULL, headers TEXT NOT NULL, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS mandates (mandate_id TEXT PRIMARY KEY, row TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS signing_keys (kid TEXT PRIMARY KEY, pem TEXT NOT NULL);
";
// Rows are read back in the order they were first written: their `rowid`,
// which an update (`ON CONFLICT … DO UPDATE`) keeps.

/// The database; see the module's documentation.
pub(crate) struct Db {
    conn: Mutex<Connection>,
    path: PathBuf,
}

/// A remembered idempotent answer, as stored.
pub(crate) struct StoredAnswer {
    pub(crate) key: String,
    pub(crate) request: u128,
    pub(crate) status: u16,
    /// `name: value` lines.
    pub(crate) headers: String,
    pub(crate) body: Vec<u8>,
}

fn failed(path: &Path, e: rusqlite::Error) -> Error {
    Error::Db {
        path: path.to_owned(),
        problem: e.to_string(),
    }
}

impl Db {
    /// Opens (or creates) the database at `path`.
    pub(crate) fn open(path: &Path) -> Result<Db, Error> {
        let conn = Connection::open(path).map_err(|e| failed(path, e))?;
        let setup = || -> rusqlite::Result<()> {
            conn.busy_timeout(std::time::Duration::from_secs(5))?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
            if version > SCHEMA_VERSION {
                return Err(rusqlite::Error::InvalidParameterName(format!(
                    "the file was written by a newer tappass-dev (schema {version}, this one knows {SCHEMA_VERSION})"
                )));
            }
            conn.execute_batch(SCHEMA)?;
            conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
            Ok(())
        };
        setup().map_err(|e| failed(path, e))?;
        Ok(Db {
            conn: Mutex::new(conn),
            path: path.to_owned(),
        })
    }

    /// The file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Logs a failed write of something other than an event (the server
    /// goes on from memory).
    fn logged(&self, what: &str, result: rusqlite::Result<usize>) {
        if let Err(e) = result {
            tracing::error!(file = %self.path.display(), error = %e, "tappass-dev could not write {what} to its database");
        }
    }

    // ---- events ---------------------------------------------------------

    /// Records a batch of events (with their sequence numbers) and, when
    /// given, its idempotency key, in one transaction: `Ok(false)` when the
    /// key was recorded before (nothing is written).
    pub(crate) fn insert_events(
        &self,
        key: Option<&str>,
        events: &[(u64, &str)],
    ) -> Result<bool, String> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| e.to_string())?;
        if let Some(key) = key {
            let seen: Option<i64> = tx
                .query_row("SELECT 1 FROM event_keys WHERE key = ?1", [key], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(|e| e.to_string())?;
            if seen.is_some() {
                return Ok(false);
            }
            tx.execute("INSERT INTO event_keys (key) VALUES (?1)", [key])
                .map_err(|e| e.to_string())?;
        }
        {
            let mut insert = tx
                .prepare("INSERT OR REPLACE INTO events (seq, json) VALUES (?1, ?2)")
                .map_err(|e| e.to_string())?;
            for (seq, json) in events {
                insert
                    .execute(params![*seq as i64, json])
                    .map_err(|e| e.to_string())?;
            }
        }
        tx.commit().map_err(|e| e.to_string())?;
        Ok(true)
    }

    /// Forgets the events before `seq` (the log evicted them).
    pub(crate) fn delete_events_before(&self, seq: u64) {
        let result = self
            .conn()
            .execute("DELETE FROM events WHERE seq < ?1", [seq as i64]);
        self.logged("an eviction of events", result);
    }

    /// Forgets an idempotency key of `/v1/events`.
    pub(crate) fn delete_event_key(&self, key: &str) {
        let result = self
            .conn()
            .execute("DELETE FROM event_keys WHERE key = ?1", [key]);
        self.logged("an eviction of an idempotency key", result);
    }

    /// The last `limit` events, oldest first, with their sequence numbers.
    pub(crate) fn load_events(&self, limit: usize) -> Result<Vec<(u64, String)>, Error> {
        let conn = self.conn();
        let read = || -> rusqlite::Result<Vec<(u64, String)>> {
            let mut stmt = conn.prepare(
                "SELECT seq, json FROM (SELECT seq, json FROM events ORDER BY seq DESC LIMIT ?1) ORDER BY seq",
            )?;
            let rows = stmt.query_map([limit as i64], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get(1)?))
            })?;
            rows.collect()
        };
        read().map_err(|e| failed(&self.path, e))
    }

    /// The last `limit` idempotency keys of `/v1/events`, oldest first.
    pub(crate) fn load_event_keys(&self, limit: usize) -> Result<Vec<String>, Error> {
        let conn = self.conn();
        let read = || -> rusqlite::Result<Vec<String>> {
            let mut stmt = conn.prepare(
                "SELECT key FROM (SELECT key, rowid FROM event_keys ORDER BY rowid DESC LIMIT ?1) ORDER BY rowid",
            )?;
            let rows = stmt.query_map([limit as i64], |r| r.get(0))?;
            rows.collect()
        };
        read().map_err(|e| failed(&self.path, e))
    }

    // ---- rows kept as JSON: approvals, mandates --------------------------

    fn put_row(&self, table: &str, id_column: &str, id: &str, row: &str) {
        let sql = format!(
            "INSERT INTO {table} ({id_column}, row) VALUES (?1, ?2)
             ON CONFLICT({id_column}) DO UPDATE SET row = excluded.row"
        );
        let result = self.conn().execute(&sql, params![id, row]);
        self.logged(table, result);
    }

    fn delete_row(&self, table: &str, id_column: &str, id: &str) {
        let sql = format!("DELETE FROM {table} WHERE {id_column} = ?1");
        let result = self.conn().execute(&sql, [id]);
        self.logged(table, result);
    }

    fn load_rows(&self, table: &str) -> Result<Vec<String>, Error> {
        let conn = self.conn();
        let read = || -> rusqlite::Result<Vec<String>> {
            let mut stmt = conn.prepare(&format!("SELECT row FROM {table} ORDER BY rowid"))?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect()
        };
        read().map_err(|e| failed(&self.path, e))
    }

    /// Writes an approval's row (JSON).
    pub(crate) fn put_approval(&self, request_id: &str, row: &str) {
        self.put_row("approvals", "request_id", request_id, row);
    }

    /// Forgets an approval.
    pub(crate) fn delete_approval(&self, request_id: &str) {
        self.delete_row("approvals", "request_id", request_id);
    }

    /// Every approval's row, oldest first.
    pub(crate) fn load_approvals(&self) -> Result<Vec<String>, Error> {
        self.load_rows("approvals")
    }

    /// Writes an issued mandate's row (JSON).
    pub(crate) fn put_mandate(&self, mandate_id: &str, row: &str) {
        self.put_row("mandates", "mandate_id", mandate_id, row);
    }

    /// Forgets an issued mandate.
    pub(crate) fn delete_mandate(&self, mandate_id: &str) {
        self.delete_row("mandates", "mandate_id", mandate_id);
    }

    /// Every issued mandate's row, oldest first.
    pub(crate) fn load_mandates(&self) -> Result<Vec<String>, Error> {
        self.load_rows("mandates")
    }

    /// Keeps a mandate signing key (PKCS#8 PEM).
    pub(crate) fn put_signing_key(&self, kid: &str, pem: &str) {
        let result = self.conn().execute(
            "INSERT OR IGNORE INTO signing_keys (kid, pem) VALUES (?1, ?2)",
            params![kid, pem],
        );
        self.logged("a signing key", result);
    }

    /// Every mandate signing key, oldest first.
    pub(crate) fn load_signing_keys(&self) -> Result<Vec<String>, Error> {
        let conn = self.conn();
        let read = || -> rusqlite::Result<Vec<String>> {
            let mut stmt = conn.prepare("SELECT pem FROM signing_keys ORDER BY rowid")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect()
        };
        read().map_err(|e| failed(&self.path, e))
    }

    // ---- idempotent answers ------------------------------------------------

    /// Remembers an idempotent answer.
    pub(crate) fn put_answer(&self, answer: &StoredAnswer) {
        let result = self.conn().execute(
            "INSERT OR REPLACE INTO answers (key, request, status, headers, body)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                answer.key,
                answer.request.to_be_bytes().to_vec(),
                answer.status,
                answer.headers,
                answer.body
            ],
        );
        self.logged("an idempotent answer", result);
    }

    /// Forgets an idempotent answer.
    pub(crate) fn delete_answer(&self, key: &str) {
        let result = self
            .conn()
            .execute("DELETE FROM answers WHERE key = ?1", [key]);
        self.logged("an eviction of an idempotent answer", result);
    }

    /// Every remembered answer, oldest first.
    pub(crate) fn load_answers(&self) -> Result<Vec<StoredAnswer>, Error> {
        let conn = self.conn();
        let read = || -> rusqlite::Result<Vec<StoredAnswer>> {
            let mut stmt = conn.prepare(
                "SELECT key, request, status, headers, body FROM answers ORDER BY rowid",
            )?;
            let rows = stmt.query_map([], |r| {
                let request: Vec<u8> = r.get(1)?;
                let mut bytes = [0u8; 16];
                if request.len() == 16 {
                    bytes.copy_from_slice(&request);
                }
                Ok(StoredAnswer {
                    key: r.get(0)?,
                    request: u128::from_be_bytes(bytes),
                    status: r.get(2)?,
                    headers: r.get(3)?,
                    body: r.get(4)?,
                })
            })?;
            rows.collect()
        };
        read().map_err(|e| failed(&self.path, e))
    }
}
