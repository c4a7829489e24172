//! ZooKeeper's result codes (`KeeperException.Code`) with their numeric wire values and names.
//!
//! System errors sit between -1 and -99, API errors below -100; 0 is success. Codes this server
//! does not know are kept as `Unknown(code)` so nothing is lost in a round trip.

macro_rules! error_codes {
    ($($variant:ident = $code:literal, $name:literal;)*) => {
        /// A ZooKeeper result code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $(#[doc = $name] $variant,)*
            /// A code this implementation does not define.
            Unknown(i32),
        }

        impl ErrorCode {
            /// The value sent in `ReplyHeader.err`.
            pub fn code(self) -> i32 {
                match self {
                    $(ErrorCode::$variant => $code,)*
                    ErrorCode::Unknown(c) => c,
                }
            }

            /// Maps a wire value back to a code.
            pub fn from_code(code: i32) -> Self {
                match code {
                    $($code => ErrorCode::$variant,)*
                    other => ErrorCode::Unknown(other),
                }
            }

            /// ZooKeeper's upper-case name for the code.
            pub fn name(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $name,)*
                    ErrorCode::Unknown(_) => "UNKNOWN",
                }
            }

            /// Every defined code, for tests and tables.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];
        }
    };
}

error_codes! {
    Ok = 0, "OK";
    SystemError = -1, "SYSTEMERROR";
    RuntimeInconsistency = -2, "RUNTIMEINCONSISTENCY";
    DataInconsistency = -3, "DATAINCONSISTENCY";
    ConnectionLoss = -4, "CONNECTIONLOSS";
    MarshallingError = -5, "MARSHALLINGERROR";
    Unimplemented = -6, "UNIMPLEMENTED";
    OperationTimeout = -7, "OPERATIONTIMEOUT";
    BadArguments = -8, "BADARGUMENTS";
    UnknownSession = -12, "UNKNOWNSESSION";
    NewConfigNoQuorum = -13, "NEWCONFIGNOQUORUM";
    ReconfigInProgress = -14, "RECONFIGINPROGRESS";
    ApiError = -100, "APIERROR";
    NoNode = -101, "NONODE";
    NoAuth = -102, "NOAUTH";
    BadVersion = -103, "BADVERSION";
    NoChildrenForEphemerals = -108, "NOCHILDRENFOREPHEMERALS";
    NodeExists = -110, "NODEEXISTS";
    NotEmpty = -111, "NOTEMPTY";
    SessionExpired = -112, "SESSIONEXPIRED";
    InvalidCallback = -113, "INVALIDCALLBACK";
    InvalidAcl = -114, "INVALIDACL";
    AuthFailed = -115, "AUTHFAILED";
    SessionMoved = -118, "SESSIONMOVED";
    NotReadOnly = -119, "NOTREADONLY";
    EphemeralOnLocalSession = -120, "EPHEMERALONLOCALSESSION";
    NoWatcher = -121, "NOWATCHER";
    RequestTimeout = -122, "REQUESTTIMEOUT";
    ReconfigDisabled = -123, "RECONFIGDISABLED";
    SessionClosedRequireSaslAuth = -124, "SESSIONCLOSEDREQUIRESASLAUTH";
    QuotaExceeded = -125, "QUOTAEXCEEDED";
    ThrottledOp = -127, "THROTTLEDOP";
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name(), self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_zookeeper() {
        assert_eq!(ErrorCode::NoNode.code(), -101);
        assert_eq!(ErrorCode::NodeExists.code(), -110);
        assert_eq!(ErrorCode::Unimplemented.code(), -6);
        assert_eq!(ErrorCode::ThrottledOp.code(), -127);
        assert_eq!(ErrorCode::from_code(-121), ErrorCode::NoWatcher);
        assert_eq!(ErrorCode::from_code(-126), ErrorCode::Unknown(-126));
        for c in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_code(c.code()), *c);
        }
    }
}
