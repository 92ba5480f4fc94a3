//! The queue file's bytes: a header, then checksummed, length-prefixed records.
//!
//! ```text
//! header   "SGOQ" | format version u32 LE                       (8 bytes)
//! record   body length u32 LE | CRC-32 of those 4 bytes u32 LE
//!          | CRC-32 of the body u32 LE | body                   (12 + length bytes)
//! body     kind u8 (1 = entry, 2 = acknowledgement) | MessagePack payload
//! ```
//!
//! The length has its own checksum so that a damaged length is told apart
//! from a record cut short by a crash: only the end of the file may be torn.

/// The first four bytes of a queue file.
pub(crate) const MAGIC: [u8; 4] = *b"SGOQ";
/// The format this SDK writes and reads.
pub(crate) const FORMAT_VERSION: u32 = 1;
/// Bytes of the file header.
pub(crate) const FILE_HEADER_BYTES: usize = 8;
/// Bytes before each record's body.
pub(crate) const RECORD_HEADER_BYTES: usize = 12;
/// Largest record body, in bytes: an offline scan (token, gate, event, scan
/// id, times) takes a few hundred; 16 KiB leaves room for the entry type to
/// grow and for [`super::ACK_IDS_PER_RECORD`] scan ids.
pub(crate) const RECORD_BODY_MAX_BYTES: usize = 16 * 1024;

/// What a record holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// One queued entry.
    Entry = 1,
    /// Scan ids acknowledged by the gateway.
    Ack = 2,
}

/// One step of reading the records.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step<'a> {
    /// A whole, intact record; the next one starts at `next`.
    Record {
        kind: Kind,
        payload: &'a [u8],
        next: usize,
    },
    /// The end of the file, exactly after a record.
    End,
    /// The file ends inside a record (a crash during an append): everything
    /// from this offset on is to be cut off.
    Torn,
    /// Damage that a crash during an append cannot cause.
    Corrupt(&'static str),
}

/// The file header for [`FORMAT_VERSION`].
pub(crate) fn file_header() -> [u8; FILE_HEADER_BYTES] {
    let mut h = [0u8; FILE_HEADER_BYTES];
    h[..4].copy_from_slice(&MAGIC);
    h[4..].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h
}

/// The format version in a file header, or `None` when it is not one.
pub(crate) fn header_version(bytes: &[u8]) -> Option<u32> {
    let head = bytes.get(..FILE_HEADER_BYTES)?;
    if head[..4] != MAGIC {
        return None;
    }
    Some(u32::from_le_bytes([head[4], head[5], head[6], head[7]]))
}

/// Appends one record to `out`. The caller has checked the body bound.
pub(crate) fn encode(kind: Kind, payload: &[u8], out: &mut Vec<u8>) {
    let body_len = 1 + payload.len();
    debug_assert!(body_len <= RECORD_BODY_MAX_BYTES);
    let len = u32::try_from(body_len).unwrap_or(u32::MAX).to_le_bytes();
    let mut body_crc = crc32fast::Hasher::new();
    body_crc.update(&[kind as u8]);
    body_crc.update(payload);
    out.extend_from_slice(&len);
    out.extend_from_slice(&crc32fast::hash(&len).to_le_bytes());
    out.extend_from_slice(&body_crc.finalize().to_le_bytes());
    out.push(kind as u8);
    out.extend_from_slice(payload);
}

/// Bytes a record with `payload` takes in the file.
pub(crate) fn record_bytes(payload_len: usize) -> usize {
    RECORD_HEADER_BYTES + 1 + payload_len
}

/// Reads the record at `pos` of the whole file `bytes`.
///
/// A record that runs past the end of the file, a partial record header,
/// a zero-filled remainder (the file grew but its bytes were never written)
/// and a last record whose body fails its checksum are a torn tail. A bad
/// length checksum or a bad body followed by more records is corruption.
pub(crate) fn read(bytes: &[u8], pos: usize) -> Step<'_> {
    let rest = &bytes[pos.min(bytes.len())..];
    if rest.is_empty() {
        return Step::End;
    }
    let Some(header) = rest.get(..RECORD_HEADER_BYTES) else {
        return Step::Torn;
    };
    let word = |i: usize| [header[i], header[i + 1], header[i + 2], header[i + 3]];
    let len_bytes = word(0);
    if crc32fast::hash(&len_bytes) != u32::from_le_bytes(word(4)) {
        return if rest.iter().all(|b| *b == 0) {
            Step::Torn
        } else {
            Step::Corrupt("a record length fails its checksum")
        };
    }
    let len = u32::from_le_bytes(len_bytes) as usize;
    if len == 0 || len > RECORD_BODY_MAX_BYTES {
        return Step::Corrupt("a record length is out of range");
    }
    let Some(body) = rest.get(RECORD_HEADER_BYTES..RECORD_HEADER_BYTES + len) else {
        return Step::Torn;
    };
    let last = rest.len() == RECORD_HEADER_BYTES + len;
    if crc32fast::hash(body) != u32::from_le_bytes(word(8)) {
        return if last {
            Step::Torn
        } else {
            Step::Corrupt("a record fails its checksum")
        };
    }
    let kind = match body[0] {
        1 => Kind::Entry,
        2 => Kind::Ack,
        _ => return Step::Corrupt("a record of an unknown kind"),
    };
    Step::Record {
        kind,
        payload: &body[1..],
        next: pos + RECORD_HEADER_BYTES + len,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_records() -> (Vec<u8>, usize) {
        let mut file = file_header().to_vec();
        encode(Kind::Entry, b"first", &mut file);
        let second = file.len();
        encode(Kind::Ack, b"second", &mut file);
        (file, second)
    }

    #[test]
    fn records_read_back_in_order() {
        let (file, second) = two_records();
        assert_eq!(header_version(&file), Some(FORMAT_VERSION));
        let Step::Record {
            kind,
            payload,
            next,
        } = read(&file, FILE_HEADER_BYTES)
        else {
            panic!("first record");
        };
        assert_eq!((kind, payload, next), (Kind::Entry, &b"first"[..], second));
        assert_eq!(next - FILE_HEADER_BYTES, record_bytes(5));
        let Step::Record {
            kind,
            payload,
            next,
        } = read(&file, second)
        else {
            panic!("second record");
        };
        assert_eq!(
            (kind, payload, next),
            (Kind::Ack, &b"second"[..], file.len())
        );
        assert_eq!(read(&file, next), Step::End);
    }

    #[test]
    fn a_cut_anywhere_in_the_last_record_is_a_torn_tail() {
        let (file, second) = two_records();
        for cut in second + 1..file.len() {
            assert_eq!(read(&file[..cut], second), Step::Torn, "cut at {cut}");
        }
    }

    #[test]
    fn a_zero_filled_tail_is_torn_and_damage_before_the_end_is_not() {
        let (mut file, second) = two_records();
        let mut zeros = file[..second].to_vec();
        zeros.extend_from_slice(&[0u8; 40]);
        assert_eq!(read(&zeros, second), Step::Torn);
        for i in FILE_HEADER_BYTES..second {
            file[i] ^= 0x01;
            assert!(
                matches!(read(&file, FILE_HEADER_BYTES), Step::Corrupt(_)),
                "flip at {i}"
            );
            file[i] ^= 0x01;
        }
    }
}
