//! Wire format between the front end's [`ForkServerClient`](crate::ForkServerClient) and the
//! fork server: fixed-size little-endian headers, one message per `SOCK_SEQPACKET` datagram.
//!
//! Trust boundary: both ends are our own code, but a version skew or a bug must produce an
//! error, never a misread limit. Decoding is therefore strict: exact lengths, known magic and
//! version, zero reserved bytes, no unknown enum values, and a size cap on the one variable
//! part (the job payload).
//!
//! Messages:
//! - hello, server to client on the control socket, once: ready with the confinement report,
//!   or startup failed with a message;
//! - job request, client to server on the control socket, carrying five descriptors;
//! - job outcome, server to client on the job's own socket, once per job.

use std::time::Duration;

use crate::confine::{ConfinementReport, Rlimits};

/// Maximum job payload. The payload travels in one datagram, which must fit the socket send
/// buffer (`net.core.wmem_default`, 212992 bytes on the Linux 6.18 test machine). Pass larger
/// job data as the input file.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;

/// Maximum length of the startup-failure message in a hello.
pub(crate) const MAX_HELLO_MESSAGE_BYTES: usize = 1024;

const VERSION: u8 = 1;
const HELLO_MAGIC: [u8; 4] = *b"SKFS";
const REQUEST_MAGIC: [u8; 4] = *b"SKJQ";
const OUTCOME_MAGIC: [u8; 4] = *b"SKJO";

/// Size of a job request without its payload.
pub(crate) const REQUEST_HEADER_BYTES: usize = 4 + 4 + 8 + 8 + 8 + 5 * 8 + 4;
/// Size of a job outcome message.
pub(crate) const OUTCOME_BYTES: usize = 4 + 4 + 8 + 4 + 8 + 8 + 8;
/// Largest hello message.
pub(crate) const MAX_HELLO_BYTES: usize = 4 + 2 + 2 + MAX_HELLO_MESSAGE_BYTES;

/// A message that does not match the format.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// The message is shorter than its header requires.
    #[error("{message} message truncated: expected {expected} bytes, got {actual}")]
    Truncated {
        /// Message kind.
        message: &'static str,
        /// Bytes the header requires.
        expected: usize,
        /// Bytes received.
        actual: usize,
    },
    /// The message has bytes after its last field.
    #[error("{message} message has {extra} trailing bytes")]
    TrailingBytes {
        /// Message kind.
        message: &'static str,
        /// Number of unexpected bytes.
        extra: usize,
    },
    /// The message starts with the wrong magic or version.
    #[error(
        "{message} message has magic {magic:02x?} version {version}; expected version {VERSION}"
    )]
    WrongVersion {
        /// Message kind.
        message: &'static str,
        /// First four bytes received.
        magic: [u8; 4],
        /// Version byte received.
        version: u8,
    },
    /// A field contains a value outside its range.
    #[error("{message} message has invalid {field}: {value}")]
    InvalidField {
        /// Message kind.
        message: &'static str,
        /// Field name.
        field: &'static str,
        /// Value received.
        value: u64,
    },
}

/// The server's first message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Hello {
    /// The self-test worker confined itself; jobs will be confined the same way.
    Ready(ConfinementReport),
    /// The fork server cannot confine workers and will exit.
    StartupFailed(String),
}

/// A job request header: everything but the descriptors and the payload bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RequestHeader {
    pub job_id: u64,
    pub deadline: Duration,
    pub max_reply_bytes: u64,
    pub rlimits: Rlimits,
}

/// End of a worker as the fork server observed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WireStatus {
    /// Exited with a status code.
    Exited,
    /// Killed by a signal.
    Killed,
    /// Killed by a signal that dumps core (no core file is written: `RLIMIT_CORE` is 0).
    Dumped,
    /// fork failed; the code is the errno.
    ForkFailed,
    /// The server already runs its maximum number of workers; the code is that maximum.
    Busy,
    /// The server rejected the request as malformed; the code is 0.
    Rejected,
}

impl WireStatus {
    fn to_byte(self) -> u8 {
        match self {
            Self::Exited => 1,
            Self::Killed => 2,
            Self::Dumped => 3,
            Self::ForkFailed => 4,
            Self::Busy => 5,
            Self::Rejected => 6,
        }
    }

    fn from_byte(byte: u8) -> Option<Self> {
        Some(match byte {
            1 => Self::Exited,
            2 => Self::Killed,
            3 => Self::Dumped,
            4 => Self::ForkFailed,
            5 => Self::Busy,
            6 => Self::Rejected,
            _ => return None,
        })
    }
}

/// The server's report on one job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WireOutcome {
    pub job_id: u64,
    pub status: WireStatus,
    /// The server killed the worker because its deadline passed.
    pub deadline_killed: bool,
    /// The server killed the worker because the client closed the job socket.
    pub cancelled: bool,
    /// Exit code, signal number or errno, depending on `status`.
    pub code: i32,
    /// Wall time from fork to reap.
    pub elapsed: Duration,
    pub cpu_time: Duration,
    pub max_rss_bytes: u64,
}

const FLAG_DEADLINE_KILLED: u8 = 1;
const FLAG_CANCELLED: u8 = 2;

const REPORT_FILESYSTEM: u8 = 1;
const REPORT_TCP: u8 = 2;
const REPORT_SCOPES: u8 = 4;
const REPORT_NO_NEW_PRIVS: u8 = 8;
const REPORT_SECCOMP: u8 = 16;
const REPORT_RLIMITS: u8 = 32;
const REPORT_ALL: u8 = 63;

const HELLO_READY: u8 = 1;
const HELLO_FAILED: u8 = 2;

pub(crate) fn encode_hello(hello: &Hello) -> Vec<u8> {
    let mut out = Vec::with_capacity(MAX_HELLO_BYTES);
    out.extend_from_slice(&HELLO_MAGIC);
    out.push(VERSION);
    match hello {
        Hello::Ready(report) => {
            out.push(HELLO_READY);
            out.push(report.landlock_abi);
            let flags = [
                (report.landlock_filesystem, REPORT_FILESYSTEM),
                (report.landlock_tcp, REPORT_TCP),
                (report.landlock_scopes, REPORT_SCOPES),
                (report.no_new_privs, REPORT_NO_NEW_PRIVS),
                (report.seccomp, REPORT_SECCOMP),
                (report.rlimits, REPORT_RLIMITS),
            ]
            .iter()
            .filter(|(on, _)| *on)
            .fold(0u8, |bits, (_, bit)| bits | bit);
            out.push(flags);
        }
        Hello::StartupFailed(message) => {
            out.push(HELLO_FAILED);
            let mut end = message.len().min(MAX_HELLO_MESSAGE_BYTES);
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            let text = message.get(..end).unwrap_or_default().as_bytes();
            // `end` is at most MAX_HELLO_MESSAGE_BYTES, which fits a u16.
            out.extend_from_slice(&u16::try_from(text.len()).unwrap_or(0).to_le_bytes());
            out.extend_from_slice(text);
        }
    }
    out
}

pub(crate) fn decode_hello(bytes: &[u8]) -> Result<Hello, ProtocolError> {
    const MESSAGE: &str = "hello";
    let mut reader = Reader::new(MESSAGE, bytes);
    reader.expect_magic(HELLO_MAGIC)?;
    let hello = match reader.u8()? {
        HELLO_READY => {
            let landlock_abi = reader.u8()?;
            let flags = reader.u8()?;
            if flags & !REPORT_ALL != 0 {
                return Err(reader.invalid("report flags", flags.into()));
            }
            Hello::Ready(ConfinementReport {
                landlock_abi,
                landlock_filesystem: flags & REPORT_FILESYSTEM != 0,
                landlock_tcp: flags & REPORT_TCP != 0,
                landlock_scopes: flags & REPORT_SCOPES != 0,
                no_new_privs: flags & REPORT_NO_NEW_PRIVS != 0,
                seccomp: flags & REPORT_SECCOMP != 0,
                rlimits: flags & REPORT_RLIMITS != 0,
            })
        }
        HELLO_FAILED => {
            let length = usize::from(reader.u16()?);
            if length > MAX_HELLO_MESSAGE_BYTES {
                return Err(reader.invalid("message length", length as u64));
            }
            let text = reader.bytes(length)?;
            Hello::StartupFailed(String::from_utf8_lossy(text).into_owned())
        }
        other => return Err(reader.invalid("hello kind", other.into())),
    };
    reader.finish()?;
    Ok(hello)
}

pub(crate) fn encode_request(header: &RequestHeader, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(REQUEST_HEADER_BYTES + payload.len());
    out.extend_from_slice(&REQUEST_MAGIC);
    out.extend_from_slice(&[VERSION, 0, 0, 0]);
    out.extend_from_slice(&header.job_id.to_le_bytes());
    out.extend_from_slice(&duration_millis(header.deadline).to_le_bytes());
    out.extend_from_slice(&header.max_reply_bytes.to_le_bytes());
    let limits = &header.rlimits;
    for value in [
        limits.address_space_bytes,
        limits.cpu_seconds,
        limits.file_size_bytes,
        limits.open_files,
        limits.processes,
    ] {
        out.extend_from_slice(&value.to_le_bytes());
    }
    // The client rejects payloads over MAX_PAYLOAD_BYTES before encoding, so this fits.
    out.extend_from_slice(
        &u32::try_from(payload.len())
            .unwrap_or(u32::MAX)
            .to_le_bytes(),
    );
    out.extend_from_slice(payload);
    out
}

pub(crate) fn decode_request(bytes: &[u8]) -> Result<(RequestHeader, Vec<u8>), ProtocolError> {
    const MESSAGE: &str = "job request";
    let mut reader = Reader::new(MESSAGE, bytes);
    reader.expect_magic(REQUEST_MAGIC)?;
    reader.expect_zero(3)?;
    let job_id = reader.u64()?;
    let deadline_ms = reader.u64()?;
    if deadline_ms == 0 {
        return Err(reader.invalid("deadline_ms", deadline_ms));
    }
    let max_reply_bytes = reader.u64()?;
    let rlimits = Rlimits {
        address_space_bytes: reader.u64()?,
        cpu_seconds: reader.u64()?,
        file_size_bytes: reader.u64()?,
        open_files: reader.u64()?,
        processes: reader.u64()?,
    };

    let payload_length = reader.u32()?;
    let payload_length = usize::try_from(payload_length).unwrap_or(usize::MAX);
    if payload_length > MAX_PAYLOAD_BYTES {
        return Err(reader.invalid("payload length", payload_length as u64));
    }
    let payload = reader.bytes(payload_length)?.to_vec();
    reader.finish()?;

    let header = RequestHeader {
        job_id,
        deadline: Duration::from_millis(deadline_ms),
        max_reply_bytes,
        rlimits,
    };
    Ok((header, payload))
}

pub(crate) fn encode_outcome(outcome: &WireOutcome) -> [u8; OUTCOME_BYTES] {
    let mut out = [0u8; OUTCOME_BYTES];
    let mut flags = 0u8;
    if outcome.deadline_killed {
        flags |= FLAG_DEADLINE_KILLED;
    }
    if outcome.cancelled {
        flags |= FLAG_CANCELLED;
    }
    let fields: [&[u8]; 10] = [
        &OUTCOME_MAGIC,
        &[VERSION],
        &[outcome.status.to_byte()],
        &[flags],
        &[0],
        &outcome.job_id.to_le_bytes(),
        &outcome.code.to_le_bytes(),
        &duration_micros(outcome.elapsed).to_le_bytes(),
        &duration_micros(outcome.cpu_time).to_le_bytes(),
        &outcome.max_rss_bytes.to_le_bytes(),
    ];
    let mut position = 0;
    for field in fields {
        if let Some(slot) = out.get_mut(position..position + field.len()) {
            slot.copy_from_slice(field);
        }
        position += field.len();
    }
    out
}

pub(crate) fn decode_outcome(bytes: &[u8]) -> Result<WireOutcome, ProtocolError> {
    const MESSAGE: &str = "job outcome";
    let mut reader = Reader::new(MESSAGE, bytes);
    reader.expect_magic(OUTCOME_MAGIC)?;
    let status_byte = reader.u8()?;
    let status =
        WireStatus::from_byte(status_byte).ok_or(reader.invalid("status", status_byte.into()))?;
    let flags = reader.u8()?;
    if flags & !(FLAG_DEADLINE_KILLED | FLAG_CANCELLED) != 0 {
        return Err(reader.invalid("flags", flags.into()));
    }
    reader.expect_zero(1)?;
    let outcome = WireOutcome {
        job_id: reader.u64()?,
        status,
        deadline_killed: flags & FLAG_DEADLINE_KILLED != 0,
        cancelled: flags & FLAG_CANCELLED != 0,
        code: reader.i32()?,
        elapsed: Duration::from_micros(reader.u64()?),
        cpu_time: Duration::from_micros(reader.u64()?),
        max_rss_bytes: reader.u64()?,
    };
    reader.finish()?;
    Ok(outcome)
}

fn duration_millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn duration_micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// Bounds-checked little-endian reader over one message.
struct Reader<'a> {
    message: &'static str,
    whole: usize,
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(message: &'static str, bytes: &'a [u8]) -> Self {
        Self {
            message,
            whole: bytes.len(),
            rest: bytes,
        }
    }

    fn bytes(&mut self, count: usize) -> Result<&'a [u8], ProtocolError> {
        let Some((head, tail)) = self.rest.split_at_checked(count) else {
            return Err(ProtocolError::Truncated {
                message: self.message,
                expected: self.whole - self.rest.len() + count,
                actual: self.whole,
            });
        };
        self.rest = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ProtocolError> {
        let mut array = [0u8; N];
        array.copy_from_slice(self.bytes(N)?);
        Ok(array)
    }

    fn u8(&mut self) -> Result<u8, ProtocolError> {
        Ok(u8::from_le_bytes(self.array()?))
    }

    fn u16(&mut self) -> Result<u16, ProtocolError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, ProtocolError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn i32(&mut self) -> Result<i32, ProtocolError> {
        Ok(i32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, ProtocolError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn expect_magic(&mut self, magic: [u8; 4]) -> Result<(), ProtocolError> {
        let found: [u8; 4] = self.array()?;
        let version = self.u8()?;
        if found != magic || version != VERSION {
            return Err(ProtocolError::WrongVersion {
                message: self.message,
                magic: found,
                version,
            });
        }
        Ok(())
    }

    fn expect_zero(&mut self, count: usize) -> Result<(), ProtocolError> {
        for byte in self.bytes(count)? {
            if *byte != 0 {
                return Err(self.invalid("reserved byte", (*byte).into()));
            }
        }
        Ok(())
    }

    fn invalid(&self, field: &'static str, value: u64) -> ProtocolError {
        ProtocolError::InvalidField {
            message: self.message,
            field,
            value,
        }
    }

    fn finish(self) -> Result<(), ProtocolError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(ProtocolError::TrailingBytes {
                message: self.message,
                extra: self.rest.len(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_header() -> RequestHeader {
        RequestHeader {
            job_id: 7,
            deadline: Duration::from_millis(1500),
            max_reply_bytes: 4096,
            rlimits: Rlimits::default(),
        }
    }

    fn sample_outcome() -> WireOutcome {
        WireOutcome {
            job_id: 99,
            status: WireStatus::Killed,
            deadline_killed: true,
            cancelled: false,
            code: libc::SIGKILL,
            elapsed: Duration::from_micros(1234),
            cpu_time: Duration::from_micros(567),
            max_rss_bytes: 8 << 20,
        }
    }

    #[test]
    fn request_round_trips() {
        let bytes = encode_request(&sample_header(), b"probe\narg");
        assert_eq!(bytes.len(), REQUEST_HEADER_BYTES + 9);
        let (header, payload) = decode_request(&bytes).unwrap();
        assert_eq!(header, sample_header());
        assert_eq!(payload, b"probe\narg");
    }

    #[test]
    fn request_rejects_every_truncation() {
        let bytes = encode_request(&sample_header(), b"abc");
        for length in 0..bytes.len() {
            assert!(
                decode_request(&bytes[..length]).is_err(),
                "accepted {length} bytes"
            );
        }
    }

    #[test]
    fn request_rejects_trailing_bytes() {
        let mut bytes = encode_request(&sample_header(), b"abc");
        bytes.push(0);
        assert_eq!(
            decode_request(&bytes).unwrap_err(),
            ProtocolError::TrailingBytes {
                message: "job request",
                extra: 1
            }
        );
    }

    #[test]
    fn request_rejects_oversized_payload_length() {
        let mut bytes = encode_request(&sample_header(), b"");
        let length_at = REQUEST_HEADER_BYTES - 4;
        let declared = (MAX_PAYLOAD_BYTES as u32 + 1).to_le_bytes();
        bytes[length_at..].copy_from_slice(&declared);
        assert_eq!(
            decode_request(&bytes).unwrap_err(),
            ProtocolError::InvalidField {
                message: "job request",
                field: "payload length",
                value: MAX_PAYLOAD_BYTES as u64 + 1,
            }
        );
    }

    #[test]
    fn request_rejects_zero_deadline() {
        let header = RequestHeader {
            deadline: Duration::ZERO,
            ..sample_header()
        };
        let error = decode_request(&encode_request(&header, b"")).unwrap_err();
        assert_eq!(
            error,
            ProtocolError::InvalidField {
                message: "job request",
                field: "deadline_ms",
                value: 0
            }
        );
    }

    #[test]
    fn request_rejects_other_version() {
        let mut bytes = encode_request(&sample_header(), b"");
        bytes[4] = 2;
        assert!(matches!(
            decode_request(&bytes).unwrap_err(),
            ProtocolError::WrongVersion { version: 2, .. }
        ));
    }

    #[test]
    fn request_rejects_nonzero_reserved_byte() {
        let mut bytes = encode_request(&sample_header(), b"");
        bytes[6] = 1;
        assert!(matches!(
            decode_request(&bytes).unwrap_err(),
            ProtocolError::InvalidField {
                field: "reserved byte",
                ..
            }
        ));
    }

    #[test]
    fn outcome_round_trips() {
        let bytes = encode_outcome(&sample_outcome());
        assert_eq!(decode_outcome(&bytes).unwrap(), sample_outcome());
    }

    #[test]
    fn outcome_rejects_unknown_status() {
        let mut bytes = encode_outcome(&sample_outcome());
        bytes[5] = 42;
        assert_eq!(
            decode_outcome(&bytes).unwrap_err(),
            ProtocolError::InvalidField {
                message: "job outcome",
                field: "status",
                value: 42
            }
        );
    }

    #[test]
    fn outcome_rejects_unknown_flags() {
        let mut bytes = encode_outcome(&sample_outcome());
        bytes[6] = 0x80;
        assert!(matches!(
            decode_outcome(&bytes).unwrap_err(),
            ProtocolError::InvalidField { field: "flags", .. }
        ));
    }

    #[test]
    fn outcome_rejects_short_message() {
        let bytes = encode_outcome(&sample_outcome());
        assert!(matches!(
            decode_outcome(&bytes[..OUTCOME_BYTES - 1]).unwrap_err(),
            ProtocolError::Truncated {
                expected: OUTCOME_BYTES,
                ..
            }
        ));
    }

    #[test]
    fn hello_ready_round_trips() {
        let report = ConfinementReport {
            landlock_abi: 7,
            landlock_filesystem: true,
            landlock_tcp: true,
            landlock_scopes: false,
            no_new_privs: true,
            seccomp: true,
            rlimits: false,
        };
        let hello = Hello::Ready(report);
        assert_eq!(decode_hello(&encode_hello(&hello)).unwrap(), hello);
    }

    #[test]
    fn hello_failure_message_is_capped_on_char_boundary() {
        let long = "é".repeat(MAX_HELLO_MESSAGE_BYTES);
        let bytes = encode_hello(&Hello::StartupFailed(long));
        assert!(bytes.len() <= MAX_HELLO_BYTES);
        let Hello::StartupFailed(text) = decode_hello(&bytes).unwrap() else {
            panic!("expected a startup failure");
        };
        assert_eq!(text.len(), MAX_HELLO_MESSAGE_BYTES);
        assert!(text.chars().all(|c| c == 'é'));
    }

    #[test]
    fn hello_rejects_unknown_report_flags() {
        let mut bytes = encode_hello(&Hello::Ready(ConfinementReport {
            landlock_abi: 1,
            landlock_filesystem: true,
            landlock_tcp: false,
            landlock_scopes: false,
            no_new_privs: true,
            seccomp: true,
            rlimits: true,
        }));
        *bytes.last_mut().unwrap() |= 0x80;
        assert!(matches!(
            decode_hello(&bytes).unwrap_err(),
            ProtocolError::InvalidField {
                field: "report flags",
                ..
            }
        ));
    }
}
