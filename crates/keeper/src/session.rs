//! Session bookkeeping that needs a clock and so stays outside the state machine: deadlines,
//! which connection a session is bound to, id allocation and passwords.
//!
//! Invariants: a session is tracked here iff it is in `StateMachine::sessions` (added when its
//! CreateSession txn applies, removed when its CloseSession applies), except between "expired"
//! being decided (`closing = true`) and the CloseSession applying. Ids are
//! `((now_ms << 24) >>> 8) | (server_id << 56)` plus one per session, never below an id seen in
//! the log, so they stay unique across restarts.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sha1::{Digest, Sha1};

use crate::watches::ConnId;

#[derive(Debug, Clone)]
struct Tracked {
    timeout: Duration,
    deadline: Instant,
    conn: Option<ConnId>,
    closing: bool,
}

/// Live sessions' deadlines and bindings.
#[derive(Debug)]
pub struct SessionTracker {
    sessions: HashMap<i64, Tracked>,
    next_id: i64,
    secret: [u8; 16],
}

/// First id for a server started at `now_ms`.
pub fn initial_session_id(now_ms: i64, server_id: u8) -> i64 {
    ((((now_ms as u64) << 24) >> 8) | (u64::from(server_id) << 56)) as i64
}

impl SessionTracker {
    /// A tracker whose ids start above both the time-based seed and `max_seen`.
    pub fn new(now_ms: i64, server_id: u8, max_seen: i64, secret: [u8; 16]) -> Self {
        let seed = initial_session_id(now_ms, server_id);
        SessionTracker {
            sessions: HashMap::new(),
            next_id: seed.max(max_seen.wrapping_add(1)),
            secret,
        }
    }

    /// Reserves a fresh id.
    pub fn allocate_id(&mut self) -> i64 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        id
    }

    /// The 16-byte password of a session (stable across restarts for the same data dir).
    pub fn password(&self, session_id: i64) -> [u8; 16] {
        let mut h = Sha1::new();
        h.update(self.secret);
        h.update(session_id.to_be_bytes());
        let d = h.finalize();
        let mut out = [0u8; 16];
        out.copy_from_slice(&d[..16]);
        out
    }

    /// Starts tracking a session.
    pub fn add(&mut self, id: i64, timeout_ms: i32, conn: Option<ConnId>, now: Instant) {
        let timeout = Duration::from_millis(timeout_ms.max(0) as u64);
        self.sessions.insert(
            id,
            Tracked {
                timeout,
                deadline: now + timeout,
                conn,
                closing: false,
            },
        );
    }

    /// Stops tracking (after CloseSession applied); returns the bound connection.
    pub fn remove(&mut self, id: i64) -> Option<ConnId> {
        self.sessions.remove(&id).and_then(|t| t.conn)
    }

    /// Pushes the deadline out; false if the session is unknown or closing.
    pub fn touch(&mut self, id: i64, now: Instant) -> bool {
        match self.sessions.get_mut(&id) {
            Some(t) if !t.closing => {
                t.deadline = now + t.timeout;
                true
            }
            _ => false,
        }
    }

    /// Is the session alive (tracked and not closing)?
    pub fn is_live(&self, id: i64) -> bool {
        self.sessions.get(&id).is_some_and(|t| !t.closing)
    }

    /// The session's timeout in ms.
    pub fn timeout_ms(&self, id: i64) -> Option<i32> {
        self.sessions.get(&id).map(|t| t.timeout.as_millis() as i32)
    }

    /// Binds a session to a connection; returns the connection it was bound to before.
    pub fn bind(&mut self, id: i64, conn: ConnId, now: Instant) -> Option<ConnId> {
        let t = self.sessions.get_mut(&id)?;
        t.deadline = now + t.timeout;
        let old = t.conn.replace(conn);
        old.filter(|c| *c != conn)
    }

    /// Forgets the binding if `conn` still holds it (the session keeps running).
    pub fn unbind(&mut self, id: i64, conn: ConnId) {
        if let Some(t) = self.sessions.get_mut(&id) {
            if t.conn == Some(conn) {
                t.conn = None;
            }
        }
    }

    /// Marks every session past its deadline as closing and returns them.
    pub fn expire(&mut self, now: Instant) -> Vec<i64> {
        let mut out = Vec::new();
        for (id, t) in self.sessions.iter_mut() {
            if !t.closing && t.deadline <= now {
                t.closing = true;
                out.push(*id);
            }
        }
        out.sort_unstable();
        out
    }

    /// Live session count.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// True when no session is tracked.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// (id, timeout ms, ms until expiry) for `dump`.
    pub fn snapshot(&self, now: Instant) -> Vec<(i64, u128, u128)> {
        let mut v: Vec<_> = self
            .sessions
            .iter()
            .map(|(id, t)| {
                (
                    *id,
                    t.timeout.as_millis(),
                    t.deadline.saturating_duration_since(now).as_millis(),
                )
            })
            .collect();
        v.sort_unstable();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_zookeeper_layout() {
        let id = initial_session_id(0x52f3d003f, 1);
        assert_eq!((id as u64) >> 56, 1);
        let t = SessionTracker::new(1_000, 1, i64::MAX - 5, [0; 16]);
        assert_eq!(t.next_id, i64::MAX - 4);
    }

    #[test]
    fn expiry_and_touch() {
        let mut t = SessionTracker::new(0, 1, 0, [1; 16]);
        let now = Instant::now();
        let a = t.allocate_id();
        let b = t.allocate_id();
        assert_ne!(a, b);
        t.add(a, 100, Some(1), now);
        t.add(b, 100, None, now);
        let later = now + Duration::from_millis(60);
        assert!(t.touch(a, later));
        let expired = t.expire(now + Duration::from_millis(120));
        assert_eq!(expired, vec![b]);
        assert!(!t.touch(b, later));
        assert!(t.is_live(a));
        assert_eq!(t.bind(a, 2, later), Some(1));
        t.unbind(a, 1);
        assert_eq!(t.remove(a), Some(2));
    }

    #[test]
    fn passwords_differ_per_session_and_are_stable() {
        let t = SessionTracker::new(0, 1, 0, [7; 16]);
        assert_ne!(t.password(1), t.password(2));
        assert_eq!(
            t.password(1),
            SessionTracker::new(5, 1, 0, [7; 16]).password(1)
        );
    }
}
