//! Bounded decompression of one entry's data.
//!
//! The loop drives `flate2::Decompress` by hand instead of reading through
//! `flate2::read::DeflateDecoder`, because that reader reports a truncated stream as a clean
//! end of file and does not show where the stream ended. Both are checked here.

use flate2::{Decompress, FlushDecompress, Status};

/// Output produced per decompression call.
const CHUNK_BYTES: usize = 64 * 1024;

/// The result of inflating up to a cap.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Inflated {
    /// The whole entry, at most `cap` bytes.
    Complete(Vec<u8>),
    /// The entry produced more than `cap` bytes. Inflation stopped there, with `inflated`
    /// bytes out, which is `cap + 1` for deflate data.
    PastCap { inflated: u64 },
}

/// A defect that stopped compressed data from inflating.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum InflateError {
    Corrupt,
    /// The input ended before the deflate stream's final block did.
    Truncated,
    /// Bytes left over after the deflate stream ended.
    TrailingData(u64),
}

/// Returns stored data as is, unless it is longer than `cap`.
pub(super) fn stored(data: &[u8], cap: u64) -> Inflated {
    if data.len() as u64 > cap {
        Inflated::PastCap {
            inflated: data.len() as u64,
        }
    } else {
        Inflated::Complete(data.to_vec())
    }
}

/// Inflates raw deflate data, producing at most `cap + 1` bytes, so a bomb costs no more
/// than the cap in time and memory. The stream must end exactly at the end of `compressed`.
pub(super) fn deflate(compressed: &[u8], cap: u64) -> Result<Inflated, InflateError> {
    let mut decompress = Decompress::new(false);
    let mut output = Vec::new();
    let mut chunk = vec![0u8; CHUNK_BYTES];
    let stop_at = cap.saturating_add(1);

    loop {
        let consumed = usize::try_from(decompress.total_in()).map_err(|_| InflateError::Corrupt)?;
        let input = compressed.get(consumed..).unwrap_or_default();
        // The window never reaches past cap + 1 bytes of output in total.
        let room = (stop_at - output.len() as u64).min(CHUNK_BYTES as u64) as usize;
        let window = chunk.get_mut(..room).ok_or(InflateError::Corrupt)?;

        let (in_before, out_before) = (decompress.total_in(), decompress.total_out());
        let status = decompress
            .decompress(input, window, FlushDecompress::None)
            .map_err(|_| InflateError::Corrupt)?;
        let produced = (decompress.total_out() - out_before) as usize;
        output.extend_from_slice(window.get(..produced).ok_or(InflateError::Corrupt)?);
        if output.len() as u64 > cap {
            return Ok(Inflated::PastCap {
                inflated: output.len() as u64,
            });
        }

        match status {
            Status::StreamEnd => break,
            // With output room left, no progress means the input ran out mid-stream.
            _ if produced == 0 && decompress.total_in() == in_before => {
                return Err(InflateError::Truncated);
            }
            _ => {}
        }
    }

    let left_over = (compressed.len() as u64).saturating_sub(decompress.total_in());
    if left_over > 0 {
        return Err(InflateError::TrailingData(left_over));
    }
    // Growth by doubling can leave up to twice the entry's size allocated; the entry is kept
    // for the rest of the scan, so the slack is released.
    output.shrink_to_fit();
    Ok(Inflated::Complete(output))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn compress(data: &[u8]) -> Vec<u8> {
        let mut encoder =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn deflate_round_trips() {
        let text = b"hello hello hello hello".repeat(100);
        assert_eq!(
            deflate(&compress(&text), text.len() as u64),
            Ok(Inflated::Complete(text))
        );
        assert_eq!(
            deflate(&compress(b""), 0),
            Ok(Inflated::Complete(Vec::new()))
        );
    }

    #[test]
    fn deflate_stops_one_byte_past_cap() {
        let zeros = vec![0u8; 10 * 1024 * 1024];
        let compressed = compress(&zeros);
        assert_eq!(
            deflate(&compressed, 1000),
            Ok(Inflated::PastCap { inflated: 1001 })
        );
        assert_eq!(
            deflate(&compressed, 0),
            Ok(Inflated::PastCap { inflated: 1 })
        );
        let cap = 3 * CHUNK_BYTES as u64 + 17;
        assert_eq!(
            deflate(&compressed, cap),
            Ok(Inflated::PastCap { inflated: cap + 1 })
        );
    }

    #[test]
    fn deflate_rejects_truncated_and_padded_streams() {
        let compressed = compress(&b"some text that compresses".repeat(50));
        let cut = compressed.get(..compressed.len() - 3).unwrap();
        assert_eq!(deflate(cut, 1 << 20), Err(InflateError::Truncated));

        let mut padded = compressed.clone();
        padded.extend_from_slice(b"hidden");
        assert_eq!(
            deflate(&padded, 1 << 20),
            Err(InflateError::TrailingData(6))
        );

        assert_eq!(deflate(&[0xff; 16], 1 << 20), Err(InflateError::Corrupt));
    }

    #[test]
    fn stored_respects_cap() {
        assert_eq!(stored(b"abc", 3), Inflated::Complete(b"abc".to_vec()));
        assert_eq!(stored(b"abcd", 3), Inflated::PastCap { inflated: 4 });
    }
}
