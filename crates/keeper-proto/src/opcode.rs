//! ZooKeeper opcodes (`ZooDefs.OpCode`), the `type` field of a RequestHeader and MultiHeader.

macro_rules! opcodes {
    ($($variant:ident = $code:literal;)*) => {
        /// A request type.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum OpCode {
            $(#[allow(missing_docs)] $variant,)*
            /// Any value ZooKeeper does not define; the server answers UNIMPLEMENTED.
            Unknown(i32),
        }

        impl OpCode {
            /// The wire value.
            pub fn code(self) -> i32 {
                match self {
                    $(OpCode::$variant => $code,)*
                    OpCode::Unknown(c) => c,
                }
            }

            /// Maps a wire value to an opcode.
            pub fn from_code(code: i32) -> Self {
                match code {
                    $($code => OpCode::$variant,)*
                    other => OpCode::Unknown(other),
                }
            }

            /// Every defined opcode.
            pub const ALL: &'static [OpCode] = &[$(OpCode::$variant,)*];
        }
    };
}

opcodes! {
    Notification = 0;
    Create = 1;
    Delete = 2;
    Exists = 3;
    GetData = 4;
    SetData = 5;
    GetAcl = 6;
    SetAcl = 7;
    GetChildren = 8;
    Sync = 9;
    Ping = 11;
    GetChildren2 = 12;
    Check = 13;
    Multi = 14;
    Create2 = 15;
    Reconfig = 16;
    CheckWatches = 17;
    RemoveWatches = 18;
    CreateContainer = 19;
    DeleteContainer = 20;
    CreateTtl = 21;
    MultiRead = 22;
    Auth = 100;
    SetWatches = 101;
    Sasl = 102;
    GetEphemerals = 103;
    GetAllChildrenNumber = 104;
    SetWatches2 = 105;
    AddWatch = 106;
    WhoAmI = 107;
    CreateSession = -10;
    CloseSession = -11;
    Error = -1;
}

/// Special xids.
pub mod xid {
    /// Server-to-client watch notification.
    pub const NOTIFICATION: i32 = -1;
    /// Ping request and reply.
    pub const PING: i32 = -2;
    /// Auth request and reply.
    pub const AUTH: i32 = -4;
    /// setWatches / setWatches2 sent after a reconnect.
    pub const SET_WATCHES: i32 = -8;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for op in OpCode::ALL {
            assert_eq!(OpCode::from_code(op.code()), *op);
        }
        assert_eq!(OpCode::from_code(99), OpCode::Unknown(99));
        assert_eq!(OpCode::CloseSession.code(), -11);
        assert_eq!(OpCode::AddWatch.code(), 106);
    }
}
