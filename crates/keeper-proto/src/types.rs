//! Small enumerations and constants of the data model: create modes (with their flag values),
//! ACL permission bits, watch event types, keeper states, watcher types and addWatch modes.

/// Create flags (`CreateMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CreateMode {
    /// 0
    Persistent,
    /// 1
    Ephemeral,
    /// 2
    PersistentSequential,
    /// 3
    EphemeralSequential,
    /// 4
    Container,
    /// 5
    PersistentWithTtl,
    /// 6
    PersistentSequentialWithTtl,
}

impl CreateMode {
    /// Maps a flags value; anything else is BADARGUMENTS on the server.
    pub fn from_flags(flags: i32) -> Option<Self> {
        Some(match flags {
            0 => CreateMode::Persistent,
            1 => CreateMode::Ephemeral,
            2 => CreateMode::PersistentSequential,
            3 => CreateMode::EphemeralSequential,
            4 => CreateMode::Container,
            5 => CreateMode::PersistentWithTtl,
            6 => CreateMode::PersistentSequentialWithTtl,
            _ => return None,
        })
    }

    /// The wire value.
    pub fn flags(self) -> i32 {
        match self {
            CreateMode::Persistent => 0,
            CreateMode::Ephemeral => 1,
            CreateMode::PersistentSequential => 2,
            CreateMode::EphemeralSequential => 3,
            CreateMode::Container => 4,
            CreateMode::PersistentWithTtl => 5,
            CreateMode::PersistentSequentialWithTtl => 6,
        }
    }

    /// Owned by a session and deleted with it.
    pub fn is_ephemeral(self) -> bool {
        matches!(
            self,
            CreateMode::Ephemeral | CreateMode::EphemeralSequential
        )
    }

    /// Gets a 10-digit suffix from the parent's cversion.
    pub fn is_sequential(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentSequential
                | CreateMode::EphemeralSequential
                | CreateMode::PersistentSequentialWithTtl
        )
    }

    /// Deleted by the sweep once its last child is gone.
    pub fn is_container(self) -> bool {
        self == CreateMode::Container
    }

    /// Deleted by the sweep once unmodified and childless for its TTL.
    pub fn is_ttl(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentWithTtl | CreateMode::PersistentSequentialWithTtl
        )
    }
}

/// ephemeralOwner value of a container node.
pub const CONTAINER_EPHEMERAL_OWNER: i64 = i64::MIN;
/// Largest TTL ZooKeeper accepts (40 bits of milliseconds).
pub const MAX_TTL_MS: i64 = (1 << 40) - 1;

/// ephemeralOwner encoding of a TTL node: top byte 0xFF, TTL in the low 40 bits.
pub fn ttl_ephemeral_owner(ttl_ms: i64) -> i64 {
    (0xFFi64 << 56) | (ttl_ms & MAX_TTL_MS)
}

/// The TTL of an ephemeralOwner value, if it encodes one.
pub fn ttl_of_owner(owner: i64) -> Option<i64> {
    if (owner as u64) >> 56 == 0xFF && owner != -1 {
        Some(owner & MAX_TTL_MS)
    } else {
        None
    }
}

/// ACL permission bits.
pub mod perms {
    /// READ
    pub const READ: i32 = 1;
    /// WRITE
    pub const WRITE: i32 = 2;
    /// CREATE
    pub const CREATE: i32 = 4;
    /// DELETE
    pub const DELETE: i32 = 8;
    /// ADMIN
    pub const ADMIN: i32 = 16;
    /// ALL
    pub const ALL: i32 = 31;
}

/// WatcherEvent types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    /// -1
    None,
    /// 1
    NodeCreated,
    /// 2
    NodeDeleted,
    /// 3
    NodeDataChanged,
    /// 4
    NodeChildrenChanged,
    /// 5
    DataWatchRemoved,
    /// 6
    ChildWatchRemoved,
    /// 7
    PersistentWatchRemoved,
}

impl EventType {
    /// The wire value.
    pub fn code(self) -> i32 {
        match self {
            EventType::None => -1,
            EventType::NodeCreated => 1,
            EventType::NodeDeleted => 2,
            EventType::NodeDataChanged => 3,
            EventType::NodeChildrenChanged => 4,
            EventType::DataWatchRemoved => 5,
            EventType::ChildWatchRemoved => 6,
            EventType::PersistentWatchRemoved => 7,
        }
    }

    /// Maps a wire value.
    pub fn from_code(code: i32) -> Option<Self> {
        Some(match code {
            -1 => EventType::None,
            1 => EventType::NodeCreated,
            2 => EventType::NodeDeleted,
            3 => EventType::NodeDataChanged,
            4 => EventType::NodeChildrenChanged,
            5 => EventType::DataWatchRemoved,
            6 => EventType::ChildWatchRemoved,
            7 => EventType::PersistentWatchRemoved,
            _ => return None,
        })
    }
}

/// Keeper states carried in WatcherEvent.state; the server only sends SyncConnected.
pub mod keeper_state {
    /// SyncConnected
    pub const SYNC_CONNECTED: i32 = 3;
    /// Expired
    pub const EXPIRED: i32 = -112;
}

/// checkWatches / removeWatches watcher type.
pub mod watcher_type {
    /// Child watches.
    pub const CHILDREN: i32 = 1;
    /// Data (and exist) watches.
    pub const DATA: i32 = 2;
    /// Any watch.
    pub const ANY: i32 = 3;
}

/// addWatch modes.
pub mod add_watch_mode {
    /// Persistent watch on one node.
    pub const PERSISTENT: i32 = 0;
    /// Persistent watch on a node and all its descendants.
    pub const PERSISTENT_RECURSIVE: i32 = 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_owner_encoding() {
        assert_eq!(ttl_ephemeral_owner(1) as u64, 0xFF00_0000_0000_0001);
        assert_eq!(ttl_of_owner(ttl_ephemeral_owner(5000)), Some(5000));
        assert_eq!(ttl_of_owner(0), None);
        assert_eq!(ttl_of_owner(CONTAINER_EPHEMERAL_OWNER), None);
    }

    #[test]
    fn create_modes() {
        for f in 0..7 {
            assert_eq!(CreateMode::from_flags(f).map(|m| m.flags()), Some(f));
        }
        assert_eq!(CreateMode::from_flags(7), None);
        assert!(CreateMode::EphemeralSequential.is_ephemeral());
        assert!(CreateMode::PersistentSequentialWithTtl.is_sequential());
    }
}
