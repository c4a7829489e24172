//! The record framing shared by the keeper's log files (the Raft log and the pre-Raft WAL):
//! `len: u32 BE | crc32(payload): u32 BE | payload`. A record is only trusted when all of its
//! bytes are present and the CRC matches; anything else at the end of a file is a torn tail.

/// Bytes of framing before each payload.
pub(crate) const FRAME_HEADER: usize = 8;

/// The payload of the complete, CRC-valid record starting at `pos`, or `None` when what is there
/// is a torn or damaged tail (too short, longer than `max`, or a CRC mismatch). The next record
/// starts at `pos + FRAME_HEADER + payload.len()`.
pub(crate) fn read_record(raw: &[u8], pos: usize, max: usize) -> Option<&[u8]> {
    let header = raw.get(pos..pos.checked_add(FRAME_HEADER)?)?;
    let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    if len > max {
        return None;
    }
    let start = pos + FRAME_HEADER;
    let payload = raw.get(start..start.checked_add(len)?)?;
    (crc32fast::hash(payload) == crc).then_some(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut out = (payload.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(&crc32fast::hash(payload).to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn reads_whole_records_and_refuses_torn_or_damaged_ones() {
        let mut raw = frame(b"first");
        raw.extend(frame(b"second"));
        assert_eq!(read_record(&raw, 0, 64), Some(&b"first"[..]));
        assert_eq!(read_record(&raw, 13, 64), Some(&b"second"[..]));
        assert_eq!(read_record(&raw, 13, 3), None, "over the size limit");
        assert_eq!(
            read_record(&raw[..raw.len() - 1], 13, 64),
            None,
            "torn payload"
        );
        assert_eq!(read_record(&raw, raw.len() - 4, 64), None, "torn header");
        assert_eq!(read_record(&raw, raw.len(), 64), None, "end of file");
        raw[10] ^= 1;
        assert_eq!(read_record(&raw, 0, 64), None, "crc mismatch");
    }
}
