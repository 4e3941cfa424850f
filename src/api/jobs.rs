//! Batch jobs in an embedded SQLite database under the state directory, so finished results
//! survive a restart and interrupted jobs can be resumed.
//!
//! rusqlite blocks, so one thread owns the connection (WAL mode) and async handlers send it
//! commands. The interface is kept narrow so that another database, such as a PostgreSQL server
//! shared by several API servers, could implement it. API keys sent with a request are never
//! stored.

use std::path::Path;
use std::sync::mpsc;

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

/// The request of a batch job as stored, without any API key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredBatch {
    pub skills_directory: String,
    pub recursive: bool,
    pub check_overlap: bool,
    pub policy: Option<String>,
    pub custom_rules: Option<String>,
}

/// State of a batch job, as `GET /scan-batch/{scan_id}` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Processing,
    Completed,
    Error,
}

impl Status {
    /// Returns the name stored in the database and sent to clients.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Processing => "processing",
            Status::Completed => "completed",
            Status::Error => "error",
        }
    }

    /// Reads a stored status. The table's CHECK constraint allows only the three names.
    fn parse(text: &str) -> Status {
        match text {
            "completed" => Status::Completed,
            "error" => Status::Error,
            _ => Status::Processing,
        }
    }
}

/// A batch job as stored.
#[derive(Clone, Debug)]
pub struct JobRecord {
    pub scan_id: String,
    pub status: Status,
    pub request: StoredBatch,
    pub started_at: String,
    pub completed_at: Option<String>,
    /// The batch report, as JSON text.
    pub result: Option<String>,
    /// Error message of a failed job, as the client sees it.
    pub error: Option<String>,
}

/// Reasons a job database operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("job database: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("job database: {0}")]
    Encoding(#[from] serde_json::Error),
    #[error("job database thread has stopped")]
    Stopped,
    #[error("cannot create the state directory {path}: {source}")]
    StateDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot start the job database thread: {0}")]
    Thread(std::io::Error),
}

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// Requests to the database thread, each with the channel for its reply.
enum Command {
    Insert(JobRecord, Reply<()>),
    Get(String, Reply<Option<JobRecord>>),
    Finish {
        scan_id: String,
        status: Status,
        result: Option<String>,
        error: Option<String>,
        reply: Reply<()>,
    },
    Unfinished(Reply<Vec<JobRecord>>),
    Prune {
        max_age_seconds: u64,
        max_count: usize,
        reply: Reply<usize>,
    },
}

/// Handle on the job database. Cloning it is cheap.
#[derive(Clone)]
pub struct JobStore {
    commands: mpsc::Sender<Command>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS batch_jobs (
    scan_id TEXT PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('processing', 'completed', 'error')),
    request TEXT NOT NULL,
    started_at TEXT NOT NULL,
    completed_at TEXT,
    result TEXT,
    error TEXT,
    created_unix INTEGER NOT NULL,
    finished_unix INTEGER
);
CREATE INDEX IF NOT EXISTS batch_jobs_finished ON batch_jobs (finished_unix);
";

impl JobStore {
    /// Opens (or creates) `jobs.sqlite3` in `state_dir` and starts the database thread.
    pub fn open(state_dir: &Path) -> Result<JobStore, StoreError> {
        create_private_dir(state_dir)?;
        let connection = Connection::open(state_dir.join("jobs.sqlite3"))?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        connection.execute_batch(SCHEMA)?;
        let (commands, receiver) = mpsc::channel();
        std::thread::Builder::new()
            .name(String::from("job-store"))
            .spawn(move || serve(&connection, &receiver))
            .map_err(StoreError::Thread)?;
        Ok(JobStore { commands })
    }

    /// Sends a command to the database thread and waits for its reply.
    async fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(make(reply))
            .map_err(|_| StoreError::Stopped)?;
        answer.await.map_err(|_| StoreError::Stopped)?
    }

    pub async fn insert(&self, record: JobRecord) -> Result<(), StoreError> {
        self.call(|reply| Command::Insert(record, reply)).await
    }

    pub async fn get(&self, scan_id: &str) -> Result<Option<JobRecord>, StoreError> {
        let scan_id = scan_id.to_string();
        self.call(|reply| Command::Get(scan_id, reply)).await
    }

    pub async fn finish(
        &self,
        scan_id: &str,
        status: Status,
        result: Option<String>,
        error: Option<String>,
    ) -> Result<(), StoreError> {
        let scan_id = scan_id.to_string();
        self.call(|reply| Command::Finish {
            scan_id,
            status,
            result,
            error,
            reply,
        })
        .await
    }

    /// Returns the jobs still marked processing, oldest first. At start-up these are the ones
    /// that a stopped server left behind.
    pub async fn unfinished(&self) -> Result<Vec<JobRecord>, StoreError> {
        self.call(Command::Unfinished).await
    }

    /// Removes finished jobs older than `max_age_seconds`, then the oldest finished jobs beyond
    /// `max_count`. Returns the number removed.
    pub async fn prune(&self, max_age_seconds: u64, max_count: usize) -> Result<usize, StoreError> {
        self.call(|reply| Command::Prune {
            max_age_seconds,
            max_count,
            reply,
        })
        .await
    }
}

fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| StoreError::StateDir {
            path: dir.display().to_string(),
            source,
        })
}

fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Runs commands on `connection` until every `JobStore` handle is dropped.
fn serve(connection: &Connection, commands: &mpsc::Receiver<Command>) {
    for command in commands {
        match command {
            Command::Insert(record, reply) => {
                let _ = reply.send(insert(connection, &record));
            }
            Command::Get(scan_id, reply) => {
                let _ = reply.send(get(connection, &scan_id));
            }
            Command::Finish {
                scan_id,
                status,
                result,
                error,
                reply,
            } => {
                let outcome = connection
                    .execute(
                        "UPDATE batch_jobs SET status = ?2, result = ?3, error = ?4,
                         completed_at = ?5, finished_unix = ?6 WHERE scan_id = ?1",
                        params![
                            scan_id,
                            status.as_str(),
                            result,
                            error,
                            now_naive(),
                            unix_now()
                        ],
                    )
                    .map(|_| ())
                    .map_err(StoreError::from);
                let _ = reply.send(outcome);
            }
            Command::Unfinished(reply) => {
                let _ = reply.send(unfinished(connection));
            }
            Command::Prune {
                max_age_seconds,
                max_count,
                reply,
            } => {
                let _ = reply.send(prune(connection, max_age_seconds, max_count));
            }
        }
    }
}

fn insert(connection: &Connection, record: &JobRecord) -> Result<(), StoreError> {
    connection.execute(
        "INSERT INTO batch_jobs (scan_id, status, request, started_at, created_unix)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            record.scan_id,
            record.status.as_str(),
            serde_json::to_string(&record.request)?,
            record.started_at,
            unix_now()
        ],
    )?;
    Ok(())
}

const COLUMNS: &str = "scan_id, status, request, started_at, completed_at, result, error";

/// Reads a row into a record and its request as JSON text, which `decode` parses.
fn record_of(row: &rusqlite::Row<'_>) -> rusqlite::Result<(JobRecord, String)> {
    let status: String = row.get(1)?;
    let request: String = row.get(2)?;
    Ok((
        JobRecord {
            scan_id: row.get(0)?,
            status: Status::parse(&status),
            request: StoredBatch {
                skills_directory: String::new(),
                recursive: false,
                check_overlap: false,
                policy: None,
                custom_rules: None,
            },
            started_at: row.get(3)?,
            completed_at: row.get(4)?,
            result: row.get(5)?,
            error: row.get(6)?,
        },
        request,
    ))
}

fn decode((mut record, request): (JobRecord, String)) -> Result<JobRecord, StoreError> {
    record.request = serde_json::from_str(&request)?;
    Ok(record)
}

fn get(connection: &Connection, scan_id: &str) -> Result<Option<JobRecord>, StoreError> {
    connection
        .query_row(
            &format!("SELECT {COLUMNS} FROM batch_jobs WHERE scan_id = ?1"),
            params![scan_id],
            record_of,
        )
        .optional()?
        .map(decode)
        .transpose()
}

fn unfinished(connection: &Connection) -> Result<Vec<JobRecord>, StoreError> {
    let mut statement = connection.prepare(&format!(
        "SELECT {COLUMNS} FROM batch_jobs WHERE status = 'processing' ORDER BY created_unix"
    ))?;
    let rows = statement.query_map([], record_of)?;
    let mut records = Vec::new();
    for row in rows {
        records.push(decode(row?)?);
    }
    Ok(records)
}

fn prune(
    connection: &Connection,
    max_age_seconds: u64,
    max_count: usize,
) -> Result<usize, StoreError> {
    let cutoff = unix_now().saturating_sub(i64::try_from(max_age_seconds).unwrap_or(i64::MAX));
    let mut removed = connection.execute(
        "DELETE FROM batch_jobs WHERE finished_unix IS NOT NULL AND finished_unix < ?1",
        params![cutoff],
    )?;
    removed += connection.execute(
        "DELETE FROM batch_jobs WHERE finished_unix IS NOT NULL AND scan_id NOT IN (
             SELECT scan_id FROM batch_jobs WHERE finished_unix IS NOT NULL
             ORDER BY finished_unix DESC LIMIT ?1)",
        params![i64::try_from(max_count).unwrap_or(i64::MAX)],
    )?;
    Ok(removed)
}

/// Returns the current UTC time in the format the reference uses for `started_at`: ISO 8601
/// with microseconds and no offset.
pub fn now_naive() -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]"
    );
    time::OffsetDateTime::now_utc()
        .format(&format)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> JobRecord {
        JobRecord {
            scan_id: id.to_string(),
            status: Status::Processing,
            request: StoredBatch {
                skills_directory: String::from("/srv/skills"),
                recursive: true,
                check_overlap: false,
                policy: Some(String::from("strict")),
                custom_rules: None,
            },
            started_at: now_naive(),
            completed_at: None,
            result: None,
            error: None,
        }
    }

    #[tokio::test]
    async fn jobs_survive_reopening_the_database() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = JobStore::open(dir.path()).unwrap();
            store.insert(record("a")).await.unwrap();
            store.insert(record("b")).await.unwrap();
            store
                .finish("a", Status::Completed, Some(String::from("{}")), None)
                .await
                .unwrap();
        }
        let store = JobStore::open(dir.path()).unwrap();
        let done = store.get("a").await.unwrap().unwrap();
        assert_eq!(done.status, Status::Completed);
        assert_eq!(done.result.as_deref(), Some("{}"));
        assert!(done.completed_at.is_some());
        let pending = store.unfinished().await.unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].request.policy.as_deref(), Some("strict"));
        assert!(store.get("missing").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn prune_keeps_the_newest_finished_jobs() {
        let dir = tempfile::tempdir().unwrap();
        let store = JobStore::open(dir.path()).unwrap();
        for id in ["a", "b", "c"] {
            store.insert(record(id)).await.unwrap();
            store
                .finish(id, Status::Error, None, Some(String::from("x")))
                .await
                .unwrap();
        }
        store.insert(record("running")).await.unwrap();
        let removed = store.prune(3600, 1).await.unwrap();
        assert_eq!(removed, 2);
        assert!(store.get("running").await.unwrap().is_some());
    }
}
