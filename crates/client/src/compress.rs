//! Body compression for sends: zlib, as Java producers do for bodies over
//! `compressMsgBodyOverHowmuch` (fact sheet §4.3). A compressed body is sent
//! with sysFlag `COMPRESSED (0x1) | ZLIB (0x300)`; batches are never compressed.

use std::io::Write;

/// sysFlag bits a producer sets on a zlib-compressed body.
pub const SYS_FLAG_ZLIB_COMPRESSED: i32 = 0x1 | 0x300;

/// zlib-compresses `data` at `level` (0-9).
pub fn compress(data: &[u8], level: u32) -> std::io::Result<Vec<u8>> {
    let mut enc = flate2::write::ZlibEncoder::new(
        Vec::with_capacity(data.len() / 2),
        flate2::Compression::new(level.min(9)),
    );
    enc.write_all(data)?;
    enc.finish()
}
