//! The session handshake: the header-less first frame in each direction.
//!
//! Layout: ConnectRequest = protocolVersion int, lastZxidSeen long, timeOut int, sessionId long,
//! passwd buffer, then an optional readOnly byte; ConnectResponse = protocolVersion int, timeOut
//! int, sessionId long, passwd buffer, then the readOnly byte only if the request carried one.
//! `read_only: None` models "old client, no trailing byte" on both sides.

use bytes::{Buf, BufMut, Bytes};

use crate::jute::{put_bool, put_buffer, put_int, put_long, JuteError, Reader, Record};

/// First client frame.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectRequest {
    /// Always 0.
    pub protocol_version: i32,
    /// Highest zxid the client has seen.
    pub last_zxid_seen: i64,
    /// Requested session timeout, ms.
    pub timeout_ms: i32,
    /// 0 for a new session, else the session to resume.
    pub session_id: i64,
    /// Session password (16 bytes; zeros for a new session).
    pub passwd: Bytes,
    /// Trailing "read-only server acceptable" byte, if sent.
    pub read_only: Option<bool>,
}

impl ConnectRequest {
    /// What a current client sends to open a new session: no session id, a zero password, the
    /// read-only byte present and false.
    pub fn new_session(timeout_ms: i32) -> ConnectRequest {
        ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout_ms,
            session_id: 0,
            passwd: Bytes::from(vec![0u8; 16]),
            read_only: Some(false),
        }
    }
}

impl Record for ConnectRequest {
    fn write<B: BufMut>(&self, out: &mut B) {
        put_int(out, self.protocol_version);
        put_long(out, self.last_zxid_seen);
        put_int(out, self.timeout_ms);
        put_long(out, self.session_id);
        put_buffer(out, &self.passwd);
        if let Some(ro) = self.read_only {
            put_bool(out, ro);
        }
    }

    fn read<B: Buf>(r: &mut Reader<B>) -> Result<Self, JuteError> {
        let protocol_version = r.int("ConnectRequest.protocolVersion")?;
        let last_zxid_seen = r.long("ConnectRequest.lastZxidSeen")?;
        let timeout_ms = r.int("ConnectRequest.timeOut")?;
        let session_id = r.long("ConnectRequest.sessionId")?;
        let passwd = r.bytes("ConnectRequest.passwd")?;
        let read_only = if r.remaining() > 0 {
            Some(r.boolean("ConnectRequest.readOnly")?)
        } else {
            None
        };
        Ok(ConnectRequest {
            protocol_version,
            last_zxid_seen,
            timeout_ms,
            session_id,
            passwd,
            read_only,
        })
    }
}

/// First server frame.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectResponse {
    /// Always 0.
    pub protocol_version: i32,
    /// Negotiated timeout, ms; 0 means the session is invalid or expired.
    pub timeout_ms: i32,
    /// Session id (0 if invalid).
    pub session_id: i64,
    /// Session password.
    pub passwd: Bytes,
    /// Trailing read-only flag, sent only when the request had one.
    pub read_only: Option<bool>,
}

impl Record for ConnectResponse {
    fn write<B: BufMut>(&self, out: &mut B) {
        put_int(out, self.protocol_version);
        put_int(out, self.timeout_ms);
        put_long(out, self.session_id);
        put_buffer(out, &self.passwd);
        if let Some(ro) = self.read_only {
            put_bool(out, ro);
        }
    }

    fn read<B: Buf>(r: &mut Reader<B>) -> Result<Self, JuteError> {
        let protocol_version = r.int("ConnectResponse.protocolVersion")?;
        let timeout_ms = r.int("ConnectResponse.timeOut")?;
        let session_id = r.long("ConnectResponse.sessionId")?;
        let passwd = r.bytes("ConnectResponse.passwd")?;
        let read_only = if r.remaining() > 0 {
            Some(r.boolean("ConnectResponse.readOnly")?)
        } else {
            None
        };
        Ok(ConnectResponse {
            protocol_version,
            timeout_ms,
            session_id,
            passwd,
            read_only,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_session_response_is_37_bytes() {
        let resp = ConnectResponse {
            protocol_version: 0,
            timeout_ms: 30000,
            session_id: 0x10000052f3d003f,
            passwd: Bytes::from(vec![0u8; 16]),
            read_only: Some(false),
        };
        assert_eq!(resp.to_bytes().len(), 37);
    }

    #[test]
    fn request_without_read_only_byte() {
        let req = ConnectRequest {
            timeout_ms: 10000,
            passwd: Bytes::from(vec![0u8; 16]),
            ..Default::default()
        };
        let bytes = req.to_bytes();
        assert_eq!(bytes.len(), 4 + 8 + 4 + 8 + 4 + 16);
        let back = ConnectRequest::from_slice(&bytes, 1 << 20).unwrap();
        assert_eq!(back.read_only, None);
        let mut with = bytes.to_vec();
        with.push(1);
        let back = ConnectRequest::from_slice(&with, 1 << 20).unwrap();
        assert_eq!(back.read_only, Some(true));
    }
}
